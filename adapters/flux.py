"""`flux`: Black Forest Labs. POST {base_url}/v1/<model> -> poll the returned `polling_url` verbatim
-> download `result.sample` at once (signed, expires in 10 minutes).

Polling is the one loop an adapter may run; it is bounded by `ctx.deadline`. The `x-key` is sent
only to https hosts on `api_hosts` and never to the delivery host. Moderation and task errors
arrive as HTTP 200 bodies and become typed failures here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
import msgspec

from adapters import polling
from adapters.base import check_base_url, decode_options, decode_settings, dropped, with_seed
from gateway import sizing, upstream
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProgressUpdate,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError

_MODERATED = ("Request Moderated", "Content Moderated")
_UNSUPPORTED = ("negative_prompt", "style", "style_preset", "lora_strength", "enable_web_search", "user")
_POLLING_FAILED = polling.given_up("bfl", "polling")
# Polling GETs are idempotent: these failures are tolerated (up to max_poll_errors in a row).
_POLL_TOLERATED = (
    FailureClass.CONNECT,
    FailureClass.AMBIGUOUS,
    FailureClass.TRANSIENT,
    FailureClass.RATE_LIMITED,
)


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    size_mode: Literal["free", "aspect"]
    source: str = ""  # the public document these rules were checked against
    limits: sizing.FreeLimits | None = None
    default_steps: int | None = None  # None: the endpoint takes no `steps`
    max_steps: int = 50
    guidance: tuple[float, float] | None = None  # allowed `guidance` range, None: not accepted


class _Table(msgspec.Struct, frozen=True):
    aspect_ratios: list[tuple[int, int]]
    models: dict[str, _Model]


# Per-endpoint rules are data (BFL adds endpoints often): adapters/flux_models.json.
_TABLE = msgspec.json.decode(Path(__file__).with_name("flux_models.json").read_bytes(), type=_Table)
_ASPECTS = _TABLE.aspect_ratios
_MODELS = _TABLE.models
_PRO_1X = _MODELS["flux-pro-1.1"].limits or sizing.FreeLimits(multiple=32, min_side=256, max_side=1440)


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


def model_spec(model: str) -> _Model:
    return _MODELS.get(model, _MODELS["flux-pro-1.1"])


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: FluxSettings,
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


def _size(req: ImageRequest, spec: _Model, body: dict[str, Any], warnings: list[str]) -> None:
    wanted = sizing.requested_size(req)
    if wanted is None:
        return
    if spec.size_mode == "aspect":
        ratio, warning = sizing.nearest_aspect(wanted, _ASPECTS, asked=req.aspect_ratio)
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
    if req.steps is not None:
        steps, warning = sizing.clamp("steps", req.steps, 1, spec.max_steps)
        body["steps"] = int(steps)
        warnings.extend([warning] if warning else [])
        if req.quality is not None and req.quality.value != "auto":
            warnings.append(f"quality: {req.quality.value} ignored because steps is given")
    else:
        preset = sizing.steps_for_quality(req.quality, spec.default_steps, spec.max_steps)
        if preset is not None:
            body["steps"] = preset
    if req.guide_scale is not None and spec.guidance is not None:
        guidance, warning = sizing.clamp("guide_scale", req.guide_scale, *spec.guidance)
        body["guidance"] = guidance
        warnings.extend([warning] if warning else [])


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


class _Submitted(msgspec.Struct, frozen=True):
    polling_url: str


class _Sample(msgspec.Struct, frozen=True):
    sample: str | None = None  # signed delivery URL, valid for 10 minutes
    seed: int | None = None


class _Polled(msgspec.Struct, frozen=True):
    """A get_result answer (tests/fixtures/bfl/get_result_*.json); unknown fields are kept in raw."""

    status: str = ""
    result: object = None  # a _Sample once Ready; free-form (BFL: Any) for failed tasks
    progress: float | None = None


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


class FluxAdapter:
    kind: ClassVar[str] = "flux"
    options_type: ClassVar[type[FluxOptions]] = FluxOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(FluxSettings, settings)
        self._client = client
        private = self._settings.allow_private_base_url
        # Refused here, at check-config, not as a 502 on every request.
        self._api_hosts = check_base_url(
            provider, self._settings.base_url, allowed_hosts=self._settings.api_hosts, allow_private=private
        )
        own = self._api_hosts[len(self._settings.api_hosts) :]  # the base_url host, when private is allowed
        self._download = upstream.DownloadPolicy(
            allowed_hosts=(*self._settings.download_hosts, *own),
            allow_http=private,
            max_bytes=self._settings.max_download_bytes,
            timeout=self._settings.download_timeout_seconds,
        )

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = model_spec(provider_model)
        limits = spec.limits or sizing.FreeLimits(multiple=1, min_side=256, max_side=4096)
        return Capabilities(
            max_n=1,
            aspect_ratios=_ASPECTS if spec.size_mode == "aspect" else None,
            min_side=limits.min_side,
            max_side=limits.max_side,
            size_multiple=limits.multiple,
            supports_seed=True,
            supports_steps=spec.default_steps is not None,
            supports_guidance=spec.guidance is not None,
            formats=[OutputFormat.PNG, OutputFormat.JPEG],
            streaming=True,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """Submit, poll, download. With `ctx.report`: progress from each poll's `progress` (0..1,
        as steps of 100); no previews."""
        report = ctx.report
        body, warnings = encode_request(
            with_seed(req), model=ctx.provider_model, settings=self._settings, options=ctx.options
        )
        url = f"{self._settings.base_url.rstrip('/')}/v1/{ctx.provider_model}"
        upstream.check_url(self._provider, url, self._api_hosts, allow_http=self._private, what="base_url")
        submit = await self._exchange("POST", url, ctx, body=body)
        message = "bfl submit response has no polling_url"
        polling_url = upstream.decode_as(self._provider, submit, _Submitted, message=message).polling_url
        # Refuse before sending the key anywhere unexpected (SSRF / key leak guard).
        upstream.check_url(
            self._provider, polling_url, self._api_hosts, allow_http=self._private, what="polling_url"
        )
        result, polled = await polling.poll_until(
            lambda: self._poll(polling_url, ctx),
            self._settle,
            provider=self._provider,
            deadline=ctx.deadline,
            interval=self._settings.poll_interval_seconds,
            max_errors=self._settings.max_poll_errors,
            tolerated=_poll_tolerated,
            give_up=lambda exc: _POLLING_FAILED(exc) if _poll_tolerated(exc) else exc,
            progress=None if report is None else lambda fraction: report(progress_fraction(fraction)),
        )
        if polled.sample is None:
            raise ProviderError(
                self._provider, FailureClass.UPSTREAM_INVALID, "bfl: Ready without result.sample"
            )
        data = await polling.download_until(  # a CDN may 404 for a moment right after Ready
            self._client,
            self._provider,
            polled.sample,
            self._download,
            max_errors=self._settings.max_poll_errors,
            interval=self._settings.poll_interval_seconds,
            deadline=ctx.deadline,
            give_up=polling.given_up("bfl", "result download"),
        )
        image = ProviderImage(data=upstream.require_image(self._provider, data), seed=polled.seed)
        raw: dict[str, object] = {"submit": upstream.raw_view(submit), "result": upstream.raw_view(result)}
        return ProviderResult(images=[image], raw=raw, warnings=warnings)

    async def _poll(self, polling_url: str, ctx: CallContext) -> tuple[dict[str, Any], _Polled]:
        answer = await self._exchange("GET", polling_url, ctx, what="poll")
        polled = upstream.decode_as(  # not BFL's shape: a garbled poll, asked again like a 5xx
            self._provider,
            answer,
            _Polled,
            message="bfl polling response has an unexpected shape",
            failure=FailureClass.TRANSIENT,
            status=200,
            provider_code=upstream.POLL_GARBLED,
        )
        if polled.status == "Ready" and not isinstance(polled.result, dict):
            # Garbled too: polling on as if it were pending would run to the deadline, never falling back.
            raise ProviderError(
                self._provider,
                FailureClass.TRANSIENT,
                "bfl: Ready without a result",
                status=200,
                provider_code=upstream.POLL_GARBLED,
            )
        return answer, polled

    def _settle(
        self, asked: tuple[dict[str, Any], _Polled]
    ) -> tuple[dict[str, Any], _Sample] | polling.Pending:
        answer, polled = asked
        failure = classify_result(self._provider, polled.status)
        if failure is not None:
            raise failure
        if polled.status != "Ready" or not isinstance(polled.result, dict):
            return polling.Pending(progress=polled.progress)  # Ready without a result: refused in _poll
        message = "bfl: Ready without result.sample"
        return answer, upstream.decode_as(self._provider, polled.result, _Sample, message=message)

    async def aclose(self) -> None:
        return None

    async def _exchange(
        self, method: str, url: str, ctx: CallContext, *, body: object = None, what: str = "request"
    ) -> dict[str, Any]:
        """One call with the key (to api hosts only: the caller checked the URL) within the deadline.
        A garbled 2xx submit is UPSTREAM_INVALID; a garbled poll is TRANSIENT, so it is asked again."""
        response = await upstream.send(
            self._client,
            self._provider,
            method,
            url,
            headers={"x-key": self._settings.api_key} if self._settings.api_key else {},
            json=body,
            timeout=min(
                self._settings.request_timeout_seconds,
                upstream.remaining_or_deadline(self._provider, ctx.deadline),
            ),
            what=what,
        )
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        if body is None:
            return upstream.decode_poll_json(self._provider, response)  # garbled: TRANSIENT, polled again
        payload = upstream.decode_json(self._provider, response, what="submit response")
        return payload if isinstance(payload, dict) else {}

    @property
    def _private(self) -> bool:
        return self._settings.allow_private_base_url


def _poll_tolerated(exc: ProviderError) -> bool:
    return exc.failure in _POLL_TOLERATED


def progress_fraction(fraction: float, *, total_steps: int = 100) -> ProgressUpdate:
    """BFL's 0..1 progress as steps out of `total_steps`."""
    clamped = min(1.0, max(0.0, fraction))
    return ProgressUpdate(step=round(clamped * total_steps), total_steps=total_steps)
