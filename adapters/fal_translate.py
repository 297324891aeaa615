"""fal.ai queue, pure: canonical request -> the model's input (per-model tables in
adapters/fal_models.json), queue answers (submit, status, result) -> typed values, HTTP errors ->
`ProviderError`. No I/O (adapters/fal.py submits, polls, fetches, downloads, cancels).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import msgspec

from adapters import polling
from adapters.base import NoOptions, dropped
from gateway import sizing, upstream
from gateway.canonical import ImageRequest, OutputFormat, ProgressUpdate, Quality
from gateway.errors import FailureClass, ProviderError

_UNSUPPORTED = ("style", "style_preset", "lora_strength", "enable_web_search", "user")


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: str = ""
    max_n: int = 4
    steps: tuple[int, int, int] | None = None  # min, max, default `num_inference_steps`
    guidance: tuple[float, float] | None = None  # `guidance_scale` range
    negative: bool = False
    safety_checker: bool = True  # takes `enable_safety_checker`
    output_format: bool = True
    format_field: str = "output_format"
    limits: sizing.FreeLimits | None = None


class _Table(msgspec.Struct, frozen=True):
    image_size_presets: dict[str, tuple[int, int]]
    models: dict[str, _Model]


_TABLE = msgspec.json.decode(Path(__file__).with_name("fal_models.json").read_bytes(), type=_Table)
MODELS, PRESETS = _TABLE.models, _TABLE.image_size_presets
_LIMITS = sizing.FreeLimits(multiple=8, min_side=256, max_side=2048)


class FalSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "https://queue.fal.run"
    api_key: str | None = None  # Authorization: Key <FAL_KEY>
    api_hosts: list[str] = msgspec.field(default_factory=lambda: ["queue.fal.run"])
    download_hosts: list[str] = msgspec.field(default_factory=lambda: ["fal.media", "*.fal.media", "storage.googleapis.com"])
    request_timeout_seconds: float = 30.0
    poll_interval_seconds: float = 0.5
    max_poll_errors: int = 3
    max_download_bytes: int = 50 * 1024 * 1024
    download_timeout_seconds: float = 60.0
    allow_private_base_url: bool = False


_DEFAULTS = FalSettings()


def model_spec(model: str) -> _Model:
    return MODELS.get(model, MODELS["default"])


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: FalSettings = _DEFAULTS,
    options: NoOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The queue submit body (the model's input) and the warnings for what it could not carry."""
    spec = model_spec(model)
    if req.n > spec.max_n:
        raise ProviderError("fal", FailureClass.CALLER_FAULT, f"{model} makes at most {spec.max_n} images per call")
    warnings: list[str] = []
    body: dict[str, Any] = {"prompt": req.prompt, "num_images": req.n}
    wanted = sizing.requested_size(req)
    if wanted is not None:
        snapped = sizing.snap_free(wanted, spec.limits or _LIMITS, explicit=sizing.is_explicit(req))
        body["image_size"] = {"width": snapped.width, "height": snapped.height}
        warnings.extend([snapped.warning] if snapped.warning else [])
    if req.seed is not None:  # the adapter always fills it in first (`with_seed`)
        body["seed"] = req.seed
    _steps(req, spec, body, warnings)
    if req.guide_scale is not None:
        if spec.guidance is not None:
            guidance, warning = sizing.clamp("guide_scale", req.guide_scale, *spec.guidance)
            body["guidance_scale"] = guidance
            warnings.extend([warning] if warning else [])
        else:
            warnings.append("guide_scale: not supported by this model; dropped")
    if req.negative_prompt is not None:
        if spec.negative:
            body["negative_prompt"] = req.negative_prompt
        else:
            warnings.append("negative_prompt: not supported by this model; dropped")
    if spec.safety_checker:
        body["enable_safety_checker"] = req.safe_mode is not False
    elif req.safe_mode is False:
        warnings.append("safe_mode: false is not supported by this model; dropped")
    if spec.output_format:  # fal encodes jpeg or png; webp is made by the gateway from png
        body[spec.format_field] = "jpeg" if req.output_format is OutputFormat.JPEG else "png"
    warnings.extend(dropped(req, _UNSUPPORTED, by="fal"))
    return body, warnings


def _steps(req: ImageRequest, spec: _Model, body: dict[str, Any], warnings: list[str]) -> None:
    if spec.steps is None:
        if req.steps is not None:
            warnings.append("steps: not supported by this model; dropped")
        if req.quality is not None and req.quality is not Quality.AUTO:
            warnings.append(f"quality: {req.quality.value} is not supported by this model; dropped")
        return
    steps = sizing.steps_to_send(req, *spec.steps, warnings)
    if steps is not None:
        body["num_inference_steps"] = steps


class Queued(msgspec.Struct, frozen=True):
    """The submit answer (tests/fixtures/fal/queue_submit_200.json): always use these URLs (the
    model's subpath is in the submit URL, not in them)."""

    request_id: str
    status_url: str
    response_url: str
    cancel_url: str | None = None


class _Log(msgspec.Struct, frozen=True):
    message: str = ""


class Status(msgspec.Struct, frozen=True):
    """A status answer (tests/fixtures/fal/queue_status_in_progress.json)."""

    status: str = ""
    queue_position: int | None = None
    logs: list[_Log] | None = None
    error: str | None = None


class Image(msgspec.Struct, frozen=True):
    url: str
    content_type: str | None = None


class Result(msgspec.Struct, frozen=True):
    """The result (tests/fixtures/fal/result_flux_dev_200.json)."""

    images: list[Image] = msgspec.field(default_factory=list)
    seed: int | None = None
    has_nsfw_concepts: list[bool] | None = None


def decode_submit(provider: str, payload: object) -> Queued:
    return upstream.decode_as(provider, payload, Queued, message="fal submit response has no request URLs")


def decode_status(provider: str, payload: object) -> Status:
    return upstream.decode_as(
        provider, payload, Status, message="fal status has an unexpected shape", failure=FailureClass.TRANSIENT,
        status=200, provider_code=upstream.POLL_GARBLED,
    )


def settle(provider: str, status: Status) -> Status | polling.Pending:
    """COMPLETED (fetch the result), Pending (with progress from `step i/n` logs), or a failure."""
    if status.status == "COMPLETED":
        if status.error:
            raise ProviderError(provider, FailureClass.TRANSIENT, "fal: request failed", status=200, provider_code="error")
        return status
    if status.status in ("IN_QUEUE", "IN_PROGRESS"):
        return polling.Pending(progress=progress_of(status))
    raise ProviderError(
        provider, FailureClass.UPSTREAM_INVALID, "fal: unknown request status", status=200, provider_code=status.status or None
    )


_STEP = re.compile(r"(\d+)\s*/\s*(\d+)")


def progress_of(status: Status) -> float | None:
    """The last `i/n` in the status logs (`?logs=1`) as a fraction; None without one."""
    for log in reversed(status.logs or []):
        match = _STEP.search(log.message)
        if match and int(match.group(2)) > 0:
            return min(1.0, int(match.group(1)) / int(match.group(2)))
    return None


def progress_update(fraction: float, total_steps: int = 100) -> ProgressUpdate:
    return ProgressUpdate(step=round(min(1.0, max(0.0, fraction)) * total_steps), total_steps=total_steps)


def decode_result(provider: str, payload: object) -> Result:
    """The result's image URLs, NSFW-flagged ones removed (fal blacks them out): fewer than asked is
    the gateway's fewer-images rule; all flagged is CONTENT_POLICY; none at all UPSTREAM_INVALID."""
    result = upstream.decode_as(provider, payload, Result, message="fal result is not an images object")
    if not result.images:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "fal returned no images", status=200)
    flags = result.has_nsfw_concepts or []
    kept = [image for i, image in enumerate(result.images) if not (i < len(flags) and flags[i])]
    if not kept:
        raise ProviderError(
            provider, FailureClass.CONTENT_POLICY, "fal: NSFW content detected", status=200, provider_code="has_nsfw_concepts"
        )
    return msgspec.structs.replace(result, images=kept)


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """fal errors: FastAPI-style `{detail}` (a string, or a list of `{loc, msg, type}` on 422)."""
    parsed = upstream.parse_error_body(body)
    detail = parsed.get("detail") if isinstance(parsed, dict) else None
    kinds = [d.get("type") for d in detail if isinstance(d, dict)] if isinstance(detail, list) else []
    code = next((k for k in kinds if isinstance(k, str)), None)
    failure = upstream.status_failure(status)
    if code == "content_policy_violation":
        failure = FailureClass.CONTENT_POLICY
    return ProviderError(
        "fal",
        failure,
        f"fal HTTP {status}" + (f" ({code})" if code else ""),
        status=status,
        retry_after=upstream.retry_hint(failure, headers),
        provider_code=code,
        detail=upstream.provider_detail(body),
    )
