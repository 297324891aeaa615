"""What the self-hosted Stable Diffusion kinds (`a1111`, `comfyui`) truly share: the settings both
read (server, size and sampling limits), the sampler options, the request fields both send
(prompt, size, steps from quality, cfg) and the capabilities they declare.

Pure: no I/O. Each kind's own settings Struct extends `LocalSettings` and forbids unknown keys; one
that belongs to the other kind is refused naming its path (`settings.workflow` under `adapter: a1111`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from adapters.base import AdapterSettingsError, check_base_url, decode_settings
from gateway import sizing
from gateway.canonical import Capabilities, ImageRequest, OutputFormat, Quality


class LocalSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "http://127.0.0.1:7860"
    timeout_seconds: float = 600.0
    default_steps: int = 20
    max_steps: int = 150
    min_cfg: float = 1.0
    max_cfg: float = 30.0
    min_side: int = 64
    max_side: int = 2048
    sampler_name: str | None = None
    scheduler: str | None = None
    poll_interval_seconds: float = 0.5  # a1111: progress polls while streaming; comfyui: /history
    allow_private_base_url: bool = True  # local servers: http and private addresses are the norm


class SamplerOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:` both kinds accept: override the provider's setting of the same name
    for one model (a1111: the txt2img fields; comfyui: the `sampler_name` / `scheduler` placeholders)."""

    sampler_name: str | None = None  # e.g. "DPM++ 2M"
    scheduler: str | None = None  # e.g. "Karras"


L = TypeVar("L", bound=LocalSettings)


def decode_local_settings(settings_type: type[L], settings: Mapping[str, object], *, kind: str) -> L:
    """Decode strictly. An unknown key (the other kind's `workflow` under `adapter: a1111`) is
    refused with its own path, which msgspec's "unknown field" error does not carry."""
    for key in settings:
        if key not in settings_type.__struct_fields__:
            raise AdapterSettingsError(
                f"Object contains unknown field `{key}` (not a setting of adapter {kind!r})", key
            )
    return decode_settings(settings_type, settings)


def check_server(provider: str, settings: LocalSettings) -> None:
    """Local servers speak plain http: http and private addresses are allowed unless turned off."""
    check_base_url(
        provider, settings.base_url, allowed_hosts=None, allow_private=settings.allow_private_base_url
    )


def sampler_fields(settings: LocalSettings, options: SamplerOptions) -> dict[str, str]:
    """sampler_name / scheduler: the deployment's option, else the provider's setting."""
    chosen = {
        "sampler_name": options.sampler_name or settings.sampler_name,
        "scheduler": options.scheduler or settings.scheduler,
    }
    return {key: value for key, value in chosen.items() if value}


def size_limits(settings: LocalSettings) -> sizing.FreeLimits:
    return sizing.FreeLimits(multiple=8, min_side=settings.min_side, max_side=settings.max_side)


def capabilities(settings: LocalSettings, *, max_n: int) -> Capabilities:
    return Capabilities(
        max_n=max_n,
        min_side=settings.min_side,
        max_side=settings.max_side,
        size_multiple=8,
        supports_seed=True,
        supports_negative_prompt=True,
        supports_steps=True,
        supports_guidance=True,
        formats=[OutputFormat.PNG],
        streaming=True,
    )


def common_fields(req: ImageRequest, settings: LocalSettings, warnings: list[str]) -> dict[str, Any]:
    """What both kinds send: prompt, size, steps (explicit or quality preset), cfg; warnings for the
    canonical fields neither carries. LoRA is each kind's own (a prompt tag or a placeholder)."""
    fields: dict[str, Any] = {"prompt": req.prompt}
    wanted = sizing.requested_size(req)
    if wanted is not None:
        snapped = sizing.snap_free(wanted, size_limits(settings), explicit=sizing.is_explicit(req))
        fields["width"], fields["height"] = snapped.size
        warnings.extend([snapped.warning] if snapped.warning else [])
    if req.steps is not None:
        fields["steps"] = req.steps
        if req.quality is not None and req.quality is not Quality.AUTO:
            warnings.append(f"quality: {req.quality.value} ignored because steps is given")
    else:
        preset = sizing.steps_for_quality(req.quality, settings.default_steps, settings.max_steps)
        if preset is not None:
            fields["steps"] = preset
    if req.guide_scale is not None:
        cfg, warning = sizing.clamp("guide_scale", req.guide_scale, settings.min_cfg, settings.max_cfg)
        fields["cfg"] = cfg
        warnings.extend([warning] if warning else [])
    warnings.extend(_dropped(req))
    return fields


def _dropped(req: ImageRequest) -> list[str]:
    unsupported = {
        "style": req.style is not None,
        "enable_web_search": bool(req.enable_web_search),
        "safe_mode": req.safe_mode is True,  # no NSFW filter on a plain local server
        "user": req.user is not None,
    }
    return [
        f"{name}: not supported by local diffusion; dropped" for name, used in unsupported.items() if used
    ]
