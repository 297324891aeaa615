"""`local_diffusion`: the name the `a1111` and `comfyui` kinds shared before they were split, kept so
routing files written for it load unchanged. `settings.backend` (a1111 | comfyui, required) picks
the kind; every other setting goes to it and is checked by its own Struct. New files should name
the kind directly (`adapter: a1111` / `adapter: comfyui`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import httpx
import msgspec

from adapters.a1111 import A1111Adapter
from adapters.base import decode_settings
from adapters.comfyui import ComfyUIAdapter
from adapters.local_common import SamplerOptions

# The alias's `options:` are those both kinds accept; a kind-only option needs the kind's own name.
LocalDiffusionOptions = SamplerOptions
BACKENDS: Mapping[str, type[A1111Adapter] | type[ComfyUIAdapter]] = {
    "a1111": A1111Adapter,
    "comfyui": ComfyUIAdapter,
}


class LocalDiffusionSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Only the selector: the other keys belong to the chosen kind's settings."""

    backend: Literal["a1111", "comfyui"]


class _LocalDiffusion:
    """Called like an adapter class (the registry and tests do): builds the kind `backend` names."""

    kind: ClassVar[str] = "local_diffusion"
    options_type: ClassVar[type[SamplerOptions]] = LocalDiffusionOptions

    def __call__(
        self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient
    ) -> A1111Adapter | ComfyUIAdapter:
        backend = decode_settings(LocalDiffusionSettings, settings).backend
        rest = {key: value for key, value in settings.items() if key != "backend"}
        return BACKENDS[backend](provider=provider, settings=rest, client=client)


LocalDiffusionAdapter = _LocalDiffusion()
