"""Replicate, pure: canonical request -> a prediction's `input` (per-model tables in
adapters/replicate_models.json), prediction objects -> output URLs or Pending, HTTP errors ->
`ProviderError`. No I/O (adapters/replicate.py creates, waits, polls, downloads, cancels).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec

from adapters import polling
from adapters.base import NoOptions, dropped
from gateway import sizing, upstream
from gateway.canonical import ImageRequest, OutputFormat, ProgressUpdate, Quality
from gateway.errors import FailureClass, ProviderError

_UNSUPPORTED = ("negative_prompt", "style", "style_preset", "lora_strength", "enable_web_search", "user")
_FORMATS = {OutputFormat.PNG: "png", OutputFormat.JPEG: "jpg", OutputFormat.WEBP: "webp"}


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    aspect_ratios: list[tuple[int, int]]
    source: str = ""
    n_field: str | None = None  # e.g. num_outputs; None: one image per prediction
    max_n: int = 1
    custom: sizing.FreeLimits | None = None  # `aspect_ratio: custom` + width/height within these
    steps: tuple[int, int, int] | None = None  # num_inference_steps min, max, default
    guidance: tuple[float, float] | None = None
    safety: Literal["disable_safety_checker", "safety_tolerance"] | None = None


class _Table(msgspec.Struct, frozen=True):
    models: dict[str, _Model]


MODELS = msgspec.json.decode(Path(__file__).with_name("replicate_models.json").read_bytes(), type=_Table).models


class ReplicateSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "https://api.replicate.com/v1"
    api_key: str | None = None  # Authorization: Bearer
    api_hosts: list[str] = msgspec.field(default_factory=lambda: ["api.replicate.com"])
    download_hosts: list[str] = msgspec.field(default_factory=lambda: ["replicate.delivery", "*.replicate.delivery"])
    wait_seconds: int = 60  # `Prefer: wait=N` (Replicate holds the request up to 60 s), then polling
    request_timeout_seconds: float = 30.0  # each poll (the create call adds wait_seconds)
    poll_interval_seconds: float = 1.0
    max_poll_errors: int = 3
    max_download_bytes: int = 50 * 1024 * 1024
    download_timeout_seconds: float = 60.0
    relaxed_safety_tolerance: int = 5  # safety_tolerance sent when a request says safe_mode: false
    allow_private_base_url: bool = False


_DEFAULTS = ReplicateSettings()


def model_spec(model: str) -> _Model:
    return MODELS.get(model.split(":")[0], MODELS["default"])


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: ReplicateSettings = _DEFAULTS,
    options: NoOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The prediction body (`{"input": ...}`, plus `version` for `owner/name:version`) and warnings."""
    spec = model_spec(model)
    if req.n > spec.max_n:
        raise ProviderError("replicate", FailureClass.CALLER_FAULT, f"{model} makes at most {spec.max_n} images per call")
    warnings: list[str] = []
    data: dict[str, Any] = {"prompt": req.prompt, "output_format": _FORMATS[req.output_format]}
    if spec.n_field:
        data[spec.n_field] = req.n
    _size(req, spec, data, warnings)
    if req.seed is not None:  # the adapter always fills it in first (`with_seed`)
        data["seed"] = req.seed
    _steps(req, spec, data, warnings)
    if req.guide_scale is not None and spec.guidance is not None:
        data["guidance"], warning = sizing.clamp("guide_scale", req.guide_scale, *spec.guidance)
        warnings.extend([warning] if warning else [])
    elif req.guide_scale is not None:
        warnings.append("guide_scale: not supported by this model; dropped")
    if req.safe_mode is False and spec.safety == "disable_safety_checker":
        data["disable_safety_checker"] = True
    elif req.safe_mode is False and spec.safety == "safety_tolerance":
        data["safety_tolerance"] = settings.relaxed_safety_tolerance
    elif req.safe_mode is False:
        warnings.append("safe_mode: false is not supported by this model; dropped")
    warnings.extend(dropped(req, _UNSUPPORTED, by="Replicate"))
    _, _, version = model.partition(":")
    return ({"version": version, "input": data} if version else {"input": data}), warnings


def _size(req: ImageRequest, spec: _Model, data: dict[str, Any], warnings: list[str]) -> None:
    wanted = sizing.requested_size(req)
    if wanted is None:
        return
    if spec.custom is not None and (req.width or req.height):
        snapped = sizing.snap_free(wanted, spec.custom, explicit=sizing.is_explicit(req))
        data |= {"aspect_ratio": "custom", "width": snapped.width, "height": snapped.height}
        warnings.extend([snapped.warning] if snapped.warning else [])
        return
    ratio, warning = sizing.nearest_aspect(wanted, spec.aspect_ratios, asked=req.aspect_ratio)
    data["aspect_ratio"] = f"{ratio[0]}:{ratio[1]}"
    warnings.extend([warning] if warning else [])
    if req.width or req.height or (req.resolution is not None and req.resolution.value != "1K"):
        warnings.append("size: this model takes an aspect ratio only; width/height/resolution not sent")


def _steps(req: ImageRequest, spec: _Model, data: dict[str, Any], warnings: list[str]) -> None:
    if spec.steps is None:
        warnings.extend(["steps: not supported by this model; dropped"] if req.steps is not None else [])
        if req.quality is not None and req.quality is not Quality.AUTO:
            warnings.append(f"quality: {req.quality.value} is not supported by this model; dropped")
        return
    steps = sizing.steps_to_send(req, *spec.steps, warnings)
    if steps is not None:
        data["num_inference_steps"] = steps


class Urls(msgspec.Struct, frozen=True):
    get: str | None = None
    cancel: str | None = None


class Prediction(msgspec.Struct, frozen=True):
    """A prediction (tests/fixtures/replicate/prediction_succeeded.json); unknown keys kept in raw."""

    status: str = ""
    id: str | None = None
    output: str | list[str] | None = None
    error: object = None
    logs: str | None = None
    urls: Urls = msgspec.field(default_factory=Urls)


def decode_prediction(provider: str, payload: object, *, polled: bool = False) -> Prediction:
    """A prediction object; a garbled one is UPSTREAM_INVALID on create, TRANSIENT (asked again) on a poll."""
    return upstream.decode_as(
        provider, payload, Prediction, message="replicate prediction has an unexpected shape",
        failure=FailureClass.TRANSIENT if polled else FailureClass.UPSTREAM_INVALID, status=200,
        provider_code=upstream.POLL_GARBLED if polled else None,
    )


def settle(provider: str, prediction: Prediction) -> list[str] | polling.Pending:
    """The output URLs once succeeded (a string or a list), Pending while starting/processing (with
    progress from the logs' last `NN%`), or the terminal failure."""
    if prediction.status == "succeeded":
        urls = [prediction.output] if isinstance(prediction.output, str) else list(prediction.output or [])
        if not urls:
            raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "replicate returned no output", status=200)
        return urls
    if prediction.status in ("starting", "processing"):
        return polling.Pending(progress=progress_of(prediction.logs))
    if prediction.status in ("failed", "canceled", "aborted"):
        # `error` is free text (NSFW refusals included): no code to tell them apart, so not retried here.
        return _raise(provider, prediction.status)
    raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "replicate: unknown prediction status", status=200)


def _raise(provider: str, status: str) -> list[str]:
    raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"replicate: prediction {status}", status=200, provider_code=status)


_PERCENT = re.compile(r"(\d{1,3})%\|")


def progress_of(logs: str | None) -> float | None:
    """The last tqdm `NN%|` in the prediction logs as a fraction."""
    found = _PERCENT.findall(logs or "")
    return min(1.0, int(found[-1]) / 100) if found else None


def progress_update(fraction: float) -> ProgressUpdate:
    return ProgressUpdate(step=round(fraction * 100), total_steps=100)


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """Replicate errors are problem+json `{title, detail, status}`: classified by status."""
    parsed = upstream.parse_error_body(body)
    title = parsed.get("title") if isinstance(parsed, dict) and isinstance(parsed.get("title"), str) else None
    failure = upstream.status_failure(status)
    return ProviderError(
        "replicate",
        failure,
        f"replicate HTTP {status}",
        status=status,
        retry_after=upstream.retry_hint(failure, headers),
        provider_code=title,
        detail=upstream.provider_detail(body),
    )
