"""Provider adapters: one module per provider, behind `adapters.base.ImageAdapter`; the kinds in
`adapters.registry`."""

from adapters.base import AdapterSettingsError, ImageAdapter
from adapters.registry import adapter_kinds, build_adapter, register

__all__ = ["AdapterSettingsError", "ImageAdapter", "adapter_kinds", "build_adapter", "register"]
