"""Provider adapters: one module per provider, behind `adapters.base.ImageAdapter`."""

from adapters.base import AdapterSettingsError, ImageAdapter, adapter_kinds, build_adapter, register

__all__ = ["AdapterSettingsError", "ImageAdapter", "adapter_kinds", "build_adapter", "register"]
