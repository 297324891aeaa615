"""Black Forest Labs, pure: canonical request -> submit body, BFL bodies -> typed answers, HTTP
errors -> `ProviderError`. No I/O (adapters/flux.py does the exchanges); the translator signature
is described in adapters/base.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec

from adapters import polling
from adapters.base import decode_options, dropped
from adapters.edit_inputs import b64, too_many, unsupported, white_is_edit
from gateway import sizing, upstream
from gateway.canonical import ImageRequest, OutputFormat, ProgressUpdate
from gateway.errors import FailureClass, ProviderError

_MODERATED = ("Request Moderated", "Content Moderated")
_UNSUPPORTED = ("negative_prompt", "style", "style_preset", "lora_strength", "enable_web_search", "user")


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    size_mode: Literal["free", "aspect", "input"]  # input: the output keeps the input image's size
    source: str = ""  # the public document these rules were checked against
    limits: sizing.FreeLimits | None = None
    default_steps: int | None = None  # None: the endpoint takes no `steps`
    min_steps: int = 1
    max_steps: int = 50
    guidance: tuple[float, float] | None = None  # allowed `guidance` range, None: not accepted
    # Edits (image-edit.md): refs = input_image, input_image_2, ...; fill = image + mask. None: none.
    edit: Literal["refs", "fill"] | None = None
    max_input_images: int = 0


class _Table(msgspec.Struct, frozen=True):
    aspect_ratios: list[tuple[int, int]]
    models: dict[str, _Model]


# Per-endpoint rules are data (BFL adds endpoints often): adapters/flux_models.json.
_TABLE = msgspec.json.decode(Path(__file__).with_name("flux_models.json").read_bytes(), type=_Table)
ASPECTS = _TABLE.aspect_ratios
MODELS = _TABLE.models
_PRO_1X = MODELS["flux-pro-1.1"].limits or sizing.FreeLimits(multiple=32, min_side=256, max_side=1440)


class FluxSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "https://api.bfl.ai"
    api_key: str | None = None
    api_hosts: list[str] = msgspec.field(default_factory=lambda: ["api.bfl.ai", "*.bfl.ai"])
    download_hosts: list[str] = msgspec.field(
        default_factory=lambda: ["*.bfl.ai", "bfldeliveryprod.blob.core.windows.net"]
    )
    request_timeout_seconds: float = 30.0  # each submit / poll call
    poll_interval_seconds: float = 0.5
    max_poll_errors: int = 3  # consecutive failed polls (or downloads) tolerated before giving up
    safety_tolerance: int | None = None  # 0..6; None: the provider default (2)
    relaxed_safety_tolerance: int | None = None  # used when a request says safe_mode: false
    max_download_bytes: int = 50 * 1024 * 1024
    download_timeout_seconds: float = 60.0
    # A relay or a local test server: base_url may then be http and/or a private address, and its
    # host also serves polling_url and the results. Off: https to a public api_hosts host only.
    allow_private_base_url: bool = False


class FluxOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:`, sent as the BFL fields of the same names."""

    prompt_upsampling: bool | None = None
    raw: bool | None = None  # flux-pro-1.1-ultra: less processed, more natural images


_DEFAULTS = FluxSettings()


def model_spec(model: str) -> _Model:
    return MODELS.get(model, MODELS["flux-pro-1.1"])


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: FluxSettings = _DEFAULTS,
    options: FluxOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The submit body for /v1/<model> and the warnings for what it could not carry."""
    if req.n != 1:
        raise ProviderError("flux", FailureClass.CALLER_FAULT, "BFL makes one image per task")
    spec, opts = model_spec(model), decode_options(FluxOptions, options)
    warnings: list[str] = []
    body: dict[str, Any] = {"prompt": req.prompt}
    _size(req, spec, body, warnings)
    if req.seed is not None:  # the adapter always fills it in first (`with_seed`)
        body["seed"] = req.seed
    _steps_and_guidance(req, spec, body, warnings)
    # BFL encodes jpeg or png; webp is produced by the gateway from a lossless png.
    body["output_format"] = "jpeg" if req.output_format is OutputFormat.JPEG else "png"
    tolerance = settings.safety_tolerance
    if req.safe_mode is False:
        if settings.relaxed_safety_tolerance is None:
            warnings.append("safe_mode: false is not enabled for this provider; default moderation applies")
        else:
            tolerance = settings.relaxed_safety_tolerance
    if tolerance is not None:
        body["safety_tolerance"] = tolerance
    if opts.prompt_upsampling is not None:
        body["prompt_upsampling"] = opts.prompt_upsampling
    if opts.raw is not None:
        body["raw"] = opts.raw
    warnings.extend(dropped(req, _UNSUPPORTED, by="BFL"))
    return body, warnings


def encode_edit(
    req: ImageRequest,
    *,
    model: str,
    settings: FluxSettings = _DEFAULTS,
    options: FluxOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The submit body of an edit: the generate body (size, seed, steps, moderation...) plus the
    inputs as base64 — Kontext / FLUX.2 `input_image`, `input_image_2`, ...; Fill `image` and
    `mask` (converted to white = inpaint). `prompt_extend` is `prompt_upsampling`; BFL has no
    strength or watermark field (warned)."""
    spec = model_spec(model)
    if spec.edit is None or not req.images:
        raise ProviderError("flux", FailureClass.CALLER_FAULT, f"bfl: {model} does not edit images")
    refused = too_many("flux", req, spec.max_input_images, what=f"bfl {model}")
    if refused is not None:
        raise refused
    plain = msgspec.structs.replace(req, images=(), mask=None, strength=None, prompt_extend=None, watermark=None)
    body, warnings = encode_request(plain, model=model, settings=settings, options=options)
    if spec.edit == "fill":
        body["image"] = b64(req.images[0].data)
        if req.mask is not None:
            mask, mask_warnings = white_is_edit("flux", req.mask)
            body["mask"] = b64(mask)
            warnings.extend(mask_warnings)
    else:
        body["input_image"] = b64(req.images[0].data)
        body.update({f"input_image_{i}": b64(image.data) for i, image in enumerate(req.images[1:], start=2)})
        if req.mask is not None:
            warnings.append(f"mask: not supported by bfl {model} (flux-pro-1.0-fill takes one); dropped")
    if req.prompt_extend is not None:
        body["prompt_upsampling"] = req.prompt_extend
    warnings.extend(unsupported(req, by="BFL", strength=False, prompt_extend=True))
    return body, warnings


def _size(req: ImageRequest, spec: _Model, body: dict[str, Any], warnings: list[str]) -> None:
    wanted = sizing.requested_size(req)
    if wanted is None:
        return
    if spec.size_mode == "input":
        warnings.append("size: this model keeps the input image's size; width/height/aspect_ratio not sent")
        return
    if spec.size_mode == "aspect":
        ratio, warning = sizing.nearest_aspect(wanted, ASPECTS, asked=req.aspect_ratio)
        body["aspect_ratio"] = f"{ratio[0]}:{ratio[1]}"
        if req.width or req.height or req.resolution:
            warnings.append("size: this model takes an aspect ratio only; width/height/resolution not sent")
    else:
        snapped = sizing.snap_free(wanted, spec.limits or _PRO_1X, explicit=sizing.is_explicit(req))
        body["width"], body["height"], warning = snapped.width, snapped.height, snapped.warning
    if warning:
        warnings.append(warning)


def _steps_and_guidance(req: ImageRequest, spec: _Model, body: dict[str, Any], warnings: list[str]) -> None:
    if spec.default_steps is None:
        warnings.extend(
            f"{name}: not supported by this model; dropped"
            for name, used in (("steps", req.steps), ("guide_scale", req.guide_scale))
            if used is not None
        )
        if req.quality is not None and req.quality.value != "auto":
            warnings.append(f"quality: {req.quality.value} is not supported by this model; dropped")
        return
    steps = sizing.steps_to_send(req, spec.min_steps, spec.max_steps, spec.default_steps, warnings)
    if steps is not None:
        body["steps"] = steps
    if req.guide_scale is not None and spec.guidance is not None:
        guidance, warning = sizing.clamp("guide_scale", req.guide_scale, *spec.guidance)
        body["guidance"] = guidance
        warnings.extend([warning] if warning else [])


class Submitted(msgspec.Struct, frozen=True):
    polling_url: str


class Sample(msgspec.Struct, frozen=True):
    sample: str | None = None  # signed delivery URL, valid for 10 minutes
    seed: int | None = None


class Polled(msgspec.Struct, frozen=True):
    """A get_result answer (tests/fixtures/bfl/get_result_*.json); unknown fields are kept in raw."""

    status: str = ""
    result: object = None  # a Sample once Ready; free-form (BFL: Any) for failed tasks
    progress: float | None = None


def decode_submit(provider: str, payload: object) -> str:
    """The submit answer's `polling_url` (checked against the api hosts by the caller)."""
    message = "bfl submit response has no polling_url"
    return upstream.decode_as(provider, payload, Submitted, message=message).polling_url


def decode_poll(provider: str, payload: object) -> Polled:
    """A poll answer; not BFL's shape (or `Ready` without a result object) is a garbled poll, asked
    again like a 5xx (TRANSIENT): polling on as if pending would run to the deadline, never falling back."""
    polled = upstream.decode_as(
        provider,
        payload,
        Polled,
        message="bfl polling response has an unexpected shape",
        failure=FailureClass.TRANSIENT,
        status=200,
        provider_code=upstream.POLL_GARBLED,
    )
    if polled.status == "Ready" and not isinstance(polled.result, dict):
        raise ProviderError(
            provider, FailureClass.TRANSIENT, "bfl: Ready without a result", status=200, provider_code=upstream.POLL_GARBLED
        )
    return polled


def decode_response(provider: str, polled: Polled) -> Sample | polling.Pending:
    """The success body (`Ready` with `result.sample`), Pending while the task runs, or the task's
    terminal failure raised (moderated, failed, unknown: classify_result)."""
    failure = classify_result(provider, polled.status)
    if failure is not None:
        raise failure
    if polled.status != "Ready" or not isinstance(polled.result, dict):
        return polling.Pending(progress=polled.progress)
    message = "bfl: Ready without result.sample"
    sample = upstream.decode_as(provider, polled.result, Sample, message=message)
    if sample.sample is None:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, message)
    return sample


def classify_result(provider: str, status: str) -> ProviderError | None:
    """A terminal non-Ready polling status as a failure; None while pending or when Ready."""
    if status in _MODERATED:
        return ProviderError(
            provider, FailureClass.CONTENT_POLICY, f"bfl: {status}", status=200, provider_code=status
        )
    if status == "Error":
        return ProviderError(
            provider, FailureClass.TRANSIENT, "bfl: task failed", status=200, provider_code="Error"
        )
    if status == "Task not found":
        return ProviderError(
            provider, FailureClass.UPSTREAM_INVALID, "bfl: task not found", status=200, provider_code=status
        )
    return None


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """BFL HTTP errors: FastAPI `{detail}` or `{error, message, retry_after}` bodies."""
    parsed = upstream.parse_error_body(body)
    parsed = parsed if isinstance(parsed, dict) else {}
    code = parsed.get("error") if isinstance(parsed.get("error"), str) else None
    failure = upstream.status_failure(status)
    if code == "rate_limit_exceeded":
        failure = FailureClass.RATE_LIMITED
    detail = parsed.get("detail")
    message = f"bfl HTTP {status}" + (f" ({code})" if code else "")
    if failure is FailureClass.CALLER_FAULT and isinstance(detail, list):
        fields = [".".join(str(p) for p in d.get("loc", [])[1:]) for d in detail if isinstance(d, dict)]
        message += f": invalid {', '.join(f for f in fields if f) or 'request'}"
    return ProviderError(
        "flux",
        failure,
        message,
        status=status,
        retry_after=upstream.retry_hint(failure, headers, parsed.get("retry_after")),
        provider_code=code,
        detail=upstream.provider_detail(body),  # operator log only (401/403/402/quota alerts)
    )


def progress_fraction(fraction: float, *, total_steps: int = 100) -> ProgressUpdate:
    """BFL's 0..1 progress as steps out of `total_steps`."""
    clamped = min(1.0, max(0.0, fraction))
    return ProgressUpdate(step=round(clamped * total_steps), total_steps=total_steps)
