"""The mock provider, pure: its settings and what a request asks the double to draw (`MockCall`,
the body of a provider that has no wire), with the warnings for what it does not draw with. The
translator signature is described in adapters/base.py; the double has no response body or HTTP
errors to decode (adapters/mock.py injects failures as `ProviderError`s directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from gateway import sizing
from gateway.canonical import ImageRequest, OutputFormat

Failure = Literal[
    "connect",
    "transient",
    "ambiguous",
    "rate_limited",
    "credential",
    "quota",
    "model_unavailable",
    "caller_fault",
    "content_policy",
    "upstream_invalid",
]


# Finite bounds: `.nan` / `.inf` from YAML would otherwise reach a sleep or a random draw.
_Millis = Annotated[float, msgspec.Meta(ge=0, le=600_000)]


class MockSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    latency_ms: _Millis = 0.0
    latency_jitter_ms: _Millis = 0.0
    failure_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0  # share of calls that fail with `failure_class`
    failure_class: Failure = "transient"
    # Deterministic outcomes of the first calls, in order ("ok" or a failure class); after the
    # script runs out, `failure_rate` applies.
    script: list[Failure | Literal["ok"]] = msgspec.field(default_factory=list)
    retry_after_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] | None = None  # sent with rate_limited failures
    max_n: int = 4  # images per call; larger n is fanned out by the gateway
    max_side: int = 2048  # longest side drawn (64..8192); larger requests are scaled down, with a warning
    native_format: Literal["png", "jpeg", "webp"] | None = None  # None: produce the requested format
    rng_seed: int | None = None  # fixes the failure/latency draws (tests); None: OS entropy
    fail_seeds: list[int] = msgspec.field(default_factory=list)  # calls whose first seed is listed fail
    stream_steps: int = 4  # progress reports per streamed call
    stream_previews: int = 2  # previews per image per streamed call (at the last steps)
    fail_at_step: int = 0  # a failing streamed call first reports this many steps (0: fails at once)
    # Edits (adapters/mock_edit.py): whether this double edits, how many inputs, whether it takes a mask.
    edit: bool = True
    max_input_images: Annotated[int, msgspec.Meta(ge=0, le=16)] = 16
    edit_mask: bool = True


class MockCall(msgspec.Struct, frozen=True, kw_only=True):
    """What the double is asked for. It takes (and, like a server free to, does not draw with) the
    fields its capabilities declare: negative_prompt, steps, guidance."""

    prompt: str
    n: int
    width: int
    height: int
    format: OutputFormat
    asked_size: bool  # False: no size in the request, the double's default (1024 square) applies
    seed: int | None = None  # None: the double draws one
    negative_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    # An edit: the base image, the mask (alpha 0 = edit) and the reference images, as sent.
    base: bytes | None = None
    mask: bytes | None = None
    references: tuple[bytes, ...] = ()


_DEFAULTS = MockSettings()


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: MockSettings = _DEFAULTS,
    options: Mapping[str, object] | None = None,
) -> tuple[MockCall, list[str]]:
    """The call to draw and the warnings for the fields the double does not use."""
    wanted = sizing.requested_size(req)
    (width, height), size_warning = size_for(req, settings.max_side)
    call = MockCall(
        prompt=req.prompt,
        n=req.n,
        width=width,
        height=height,
        format=OutputFormat(settings.native_format) if settings.native_format else req.output_format,
        asked_size=wanted is not None,
        seed=req.seed,
        negative_prompt=req.negative_prompt,
        steps=req.steps,
        guidance=req.guide_scale,
    )
    return call, _dropped(req) + ([size_warning] if size_warning else [])


def size_for(req: ImageRequest, max_side: int) -> tuple[tuple[int, int], str | None]:
    """The shared size rules (width+height > ratio+resolution > ratio > resolution), scaled into
    64..max_side keeping the ratio; a warning when the size changed."""
    size = sizing.requested_size(req) or (sizing.BASE_LONG_EDGE, sizing.BASE_LONG_EDGE)
    limits = sizing.FreeLimits(multiple=1, min_side=64, max_side=max_side)
    snapped = sizing.snap_free(size, limits, explicit=sizing.is_explicit(req))
    return snapped.size, snapped.warning


def _dropped(req: ImageRequest) -> list[str]:
    """Fields the double does not draw with: listed, as every adapter does, so nothing is silently lost."""
    unused = {
        "style": req.style,
        "style_preset": req.style_preset,
        "quality": req.quality,
        "lora_strength": req.lora_strength,
        "enable_web_search": req.enable_web_search,
        "hide_watermark": req.hide_watermark,
        "safe_mode": req.safe_mode,
        "user": req.user,  # was silently ignored (tests/adapters/test_translators.py)
    }
    warnings = [
        f"{name}: not used by the mock provider; dropped"
        for name, value in unused.items()
        if value is not None and value is not False
    ]
    if req.aspect_ratio and req.width and req.height:
        warnings.append("aspect_ratio: width and height were given; ratio ignored")
    return warnings


def encode_edit(
    req: ImageRequest,
    *,
    model: str,
    settings: MockSettings = _DEFAULTS,
    options: Mapping[str, object] | None = None,
) -> tuple[MockCall, list[str]]:
    """An edit call: the generate call drawn over the base image. Without a size in the request
    the output keeps the base image's size (scaled into the double's max_side)."""
    base = req.images[0]
    if sizing.requested_size(req) is None:
        req = msgspec.structs.replace(req, width=base.width, height=base.height)
    call, warnings = encode_request(req, model=model, settings=settings, options=options)
    call = msgspec.structs.replace(
        call,
        base=base.data,
        mask=None if req.mask is None else req.mask.data,
        references=tuple(image.data for image in req.images[1:]),
    )
    unused = {"strength": req.strength, "prompt_extend": req.prompt_extend, "watermark": req.watermark}
    warnings += [f"{name}: not used by the mock provider; dropped" for name, value in unused.items() if value is not None]
    return call, warnings
