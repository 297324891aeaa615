"""Adapter kinds as data: the routing YAML's `adapter:` value -> the class that serves it.

Adding a provider is one line in `BUILTIN`. Entries are import strings (as uvicorn names an app),
so reading the kinds imports no adapter module and nothing here runs at import time: no
registration by side effect, no import circle (this module imports `adapters.base`; adapters
import `adapters.base`; nothing below imports this module). An adapter class is imported the
first time its kind is built or asked for its `options_type`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TypeVar

import httpx
import msgspec

from adapters.base import AdapterSettingsError, ImageAdapter, NoOptions, decode_settings

BUILTIN: Mapping[str, str] = MappingProxyType(
    {
        "a1111": "adapters.a1111:A1111Adapter",
        "comfyui": "adapters.comfyui:ComfyUIAdapter",
        "fal": "adapters.fal:FalAdapter",
        "flux": "adapters.flux:FluxAdapter",
        "google": "adapters.google:GoogleAdapter",
        # the old name of a1111 + comfyui: `settings.backend` picks the kind (adapters/local_diffusion.py)
        "local_diffusion": "adapters.local_diffusion:LocalDiffusionAdapter",
        "mock": "adapters.mock:MockAdapter",
        "openai": "adapters.openai_images:OpenAIAdapter",
        "replicate": "adapters.replicate:ReplicateAdapter",
        "stability": "adapters.stability:StabilityAdapter",
    }
)

# Kinds added with `register` (tests, plugins): kept apart so the product's table stays as written.
_EXTRA: dict[str, Callable[..., ImageAdapter]] = {}
A = TypeVar("A")


def register(kind: str) -> Callable[[type[A]], type[A]]:
    """Class decorator for kinds outside `BUILTIN` (test doubles); the built-in kinds never use it."""
    if kind in BUILTIN:
        raise ValueError(f"adapter kind {kind!r} is built in")

    def wrap(cls: type[A]) -> type[A]:
        _EXTRA[kind] = cls  # type: ignore[assignment]
        return cls

    return wrap


@contextmanager
def registered(kind: str, factory: Callable[..., ImageAdapter]) -> Iterator[None]:
    """`kind` served by `factory` for the length of a block only: how tests add a kind without
    leaving it in the process-wide table for every later test (no registration at import time)."""
    if kind in BUILTIN:
        raise ValueError(f"adapter kind {kind!r} is built in")
    _EXTRA[kind] = factory
    try:
        yield
    finally:
        _EXTRA.pop(kind, None)


def adapter_kinds() -> list[str]:
    return sorted({*BUILTIN, *_EXTRA})


def adapter_class(kind: str) -> Callable[..., ImageAdapter]:
    """The class (factory) behind `kind`; AdapterSettingsError naming the known kinds if none."""
    if kind in _EXTRA:
        return _EXTRA[kind]
    target = BUILTIN.get(kind)
    if target is None:
        raise AdapterSettingsError(f"unknown adapter kind {kind!r}; expected one of {adapter_kinds()}")
    module, _, name = target.partition(":")
    factory: Callable[..., ImageAdapter] = getattr(importlib.import_module(module), name)
    return factory


def build_adapter(
    kind: str, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient
) -> ImageAdapter:
    return adapter_class(kind)(provider=provider, settings=settings, client=client)


def options_type(kind: str) -> type[msgspec.Struct]:
    """The Struct an adapter kind declares for a deployment's `options:` (its `options_type`)."""
    try:
        factory: object = adapter_class(kind)
    except AdapterSettingsError:
        return NoOptions
    declared = getattr(factory, "options_type", None)
    return declared if isinstance(declared, type) and issubclass(declared, msgspec.Struct) else NoOptions


def check_options(kind: str, options: Mapping[str, object]) -> None:
    """Validate a deployment's `options:` for its adapter (check-config / load); errors carry the key."""
    decode_settings(options_type(kind), options)
