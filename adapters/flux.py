"""`flux`: Black Forest Labs. POST {base_url}/v1/<model> -> poll the returned `polling_url` verbatim
-> download `result.sample` at once (signed, expires in 10 minutes).

Polling is the one loop an adapter may run; it is bounded by `ctx.deadline`. The `x-key` is sent
only to https hosts on `api_hosts` and never to the delivery host. Moderation and task errors
arrive as HTTP 200 bodies and become typed failures (adapters/flux_translate.py, the pure half:
model table, encoding, decoding, error classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from adapters import polling
from adapters.base import decode_settings, hosted, with_seed
from adapters.flux_translate import (
    ASPECTS,
    MODELS,
    FluxOptions,
    FluxSettings,
    Polled,
    Sample,
    classify_error,
    decode_poll,
    decode_response,
    decode_submit,
    encode_edit,
    encode_request,
    model_spec,
    progress_fraction,
)
from gateway import imaging, sizing, upstream
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError

__all__ = [
    "FluxAdapter",
    "FluxOptions",
    "FluxSettings",
    "classify_error",
    "encode_edit",
    "encode_request",
    "model_spec",
    "progress_fraction",
]

_MODELS = MODELS  # the name tests/adapters/test_encoding_properties.py reads
_POLLING_FAILED = polling.given_up("bfl", "polling")
# Polling GETs are idempotent: these failures are tolerated (up to max_poll_errors in a row).

class FluxAdapter:
    kind: ClassVar[str] = "flux"
    options_type: ClassVar[type[FluxOptions]] = FluxOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(FluxSettings, settings)
        self._client = client
        self._api_hosts, self._download = hosted(provider, self._settings)

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = model_spec(provider_model)
        limits = spec.limits or sizing.FreeLimits(multiple=1, min_side=256, max_side=4096)
        return Capabilities(
            max_n=1,
            aspect_ratios=ASPECTS if spec.size_mode == "aspect" else None,
            min_side=limits.min_side,
            max_side=limits.max_side,
            size_multiple=limits.multiple,
            supports_seed=True,
            supports_steps=spec.default_steps is not None,
            supports_guidance=spec.guidance is not None,
            formats=[OutputFormat.PNG, OutputFormat.JPEG],
            streaming=True,
            edit=spec.edit is not None,
            max_input_images=spec.max_input_images,
            edit_mask=spec.edit == "fill",
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """Submit, poll, download. With `ctx.report`: progress from each poll's `progress` (0..1,
        as steps of 100); no previews."""
        if model_spec(ctx.provider_model).edit == "fill":  # a routing mistake: fall back, never bill
            message = f"bfl {ctx.provider_model} only edits (it needs an image)"
            raise ProviderError(self._provider, FailureClass.MODEL_UNAVAILABLE, message)
        body, warnings = encode_request(
            with_seed(req), model=ctx.provider_model, settings=self._settings, options=ctx.options
        )
        return await self._run(body, warnings, ctx)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """An edit is the same task with the inputs in the body (Kontext, FLUX.2, Fill)."""
        body, warnings = await imaging.off_loop(  # base64 and the mask conversion: off the event loop
            encode_edit,
            with_seed(req),
            model=ctx.provider_model,
            settings=self._settings,
            options=ctx.options,
        )
        return await self._run(body, warnings, ctx)

    async def _run(self, body: dict[str, Any], warnings: list[str], ctx: CallContext) -> ProviderResult:
        report = ctx.report
        url = f"{self._settings.base_url.rstrip('/')}/v1/{ctx.provider_model}"
        self._check(url, "base_url")
        if ctx.resume is None:
            submit = await self._exchange("POST", url, ctx, body=body)
            polling_url = decode_submit(self._provider, submit)
        else:  # an async job taken over: poll the task its first runner submitted (never submit twice)
            submit, polling_url = {}, ctx.resume
        self._check(polling_url, "polling_url")  # before sending the key anywhere unexpected
        if ctx.submitted is not None and ctx.resume is None:
            ctx.submitted(polling_url)
        result, polled = await polling.poll_until(
            lambda: self._poll(polling_url, ctx),
            self._settle,
            provider=self._provider,
            deadline=ctx.deadline,
            interval=self._settings.poll_interval_seconds,
            max_errors=self._settings.max_poll_errors,
            tolerated=polling.ask_again,
            give_up=lambda exc: _POLLING_FAILED(exc) if polling.ask_again(exc) else exc,
            progress=None if report is None else lambda fraction: report(progress_fraction(fraction)),
        )
        assert polled.sample is not None  # decode_response refuses a Ready without one
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

    async def _poll(self, polling_url: str, ctx: CallContext) -> tuple[dict[str, Any], Polled]:
        answer = await self._exchange("GET", polling_url, ctx, what="poll")
        return answer, decode_poll(self._provider, answer)

    def _settle(
        self, asked: tuple[dict[str, Any], Polled]
    ) -> tuple[dict[str, Any], Sample] | polling.Pending:
        answer, polled = asked
        state = decode_response(self._provider, polled)
        return state if isinstance(state, polling.Pending) else (answer, state)

    async def aclose(self) -> None:
        return None

    def _check(self, url: str, what: str) -> None:
        """SSRF / key leak guard: the key goes to api hosts only (http only when private is allowed)."""
        private = self._settings.allow_private_base_url
        upstream.check_url(self._provider, url, self._api_hosts, allow_http=private, what=what)

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
