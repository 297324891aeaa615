"""`fal`: the fal.ai queue. POST {base_url}/<model id> -> poll the returned `status_url` (with
`?logs=1` when someone listens: progress from `step i/n` logs) -> GET `response_url` -> download
each image URL at once (fal CDN, under the download rules). On cancellation (client gone) or a
passed deadline the request is cancelled with PUT `cancel_url`, best effort. The key
(`Authorization: Key ...`) goes to `api_hosts` only. The pure half: adapters/fal_translate.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from adapters import polling
from adapters.base import NoOptions, decode_settings, hosted, with_seed
from adapters.fal_translate import (
    FalSettings,
    Queued,
    Status,
    classify_error,
    decode_result,
    decode_status,
    decode_submit,
    encode_request,
    model_spec,
    progress_update,
    settle,
)
from gateway import sizing, upstream
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError

__all__ = ["FalAdapter", "FalSettings", "classify_error", "encode_request", "model_spec"]

_CANCEL_SECONDS = 5.0


class FalAdapter:
    kind: ClassVar[str] = "fal"
    options_type: ClassVar[type[NoOptions]] = NoOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(FalSettings, settings)
        self._client = client
        self._api_hosts, self._download = hosted(provider, self._settings)

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = model_spec(provider_model)
        limits = spec.limits or sizing.FreeLimits(multiple=8, min_side=256, max_side=2048)
        return Capabilities(
            max_n=spec.max_n,
            min_side=limits.min_side,
            max_side=limits.max_side,
            size_multiple=limits.multiple,
            supports_seed=True,
            supports_negative_prompt=spec.negative,
            supports_steps=spec.steps is not None,
            supports_guidance=spec.guidance is not None,
            formats=[OutputFormat.PNG, OutputFormat.JPEG],
            streaming=True,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        req = with_seed(req)
        body, warnings = encode_request(req, model=ctx.provider_model, settings=self._settings, options=ctx.options)
        url = f"{self._settings.base_url.rstrip('/')}/{ctx.provider_model.strip('/')}"
        submit = await self._call("POST", url, ctx, body=body, what="submit")
        queued = decode_submit(self._provider, submit)
        for link in (queued.status_url, queued.response_url, queued.cancel_url):
            if link is not None:
                self._check(link)  # before the key goes anywhere unexpected
        try:
            result = await self._wait(queued, ctx)
        except asyncio.CancelledError:
            await self._cancel(queued)
            raise
        except ProviderError as exc:
            if exc.failure is FailureClass.DEADLINE:
                await self._cancel(queued)
            raise
        decoded = decode_result(self._provider, result)
        images = []
        for image in decoded.images[: req.n]:  # never fetch (or hold) more than asked: fal chose the list
            data = await polling.download_until(
                self._client, self._provider, image.url, self._download, max_errors=self._settings.max_poll_errors,
                interval=self._settings.poll_interval_seconds, deadline=ctx.deadline,
                give_up=polling.given_up("fal", "result download"),
            )
            seed = decoded.seed if len(decoded.images) == 1 and req.n == 1 else None
            images.append(ProviderImage(data=upstream.require_image(self._provider, data), seed=seed))
        raw: dict[str, object] = {"submit": upstream.raw_view(submit), "result": upstream.raw_view(result)}
        return ProviderResult(images=images, raw=raw, warnings=warnings)

    async def _wait(self, queued: Queued, ctx: CallContext) -> dict[str, Any]:
        report = ctx.report
        params = {"logs": "1"} if report is not None else None

        async def ask() -> Status:
            return decode_status(self._provider, await self._call("GET", queued.status_url, ctx, params=params, what="poll"))

        await polling.poll_until(
            ask,
            lambda status: settle(self._provider, status),
            provider=self._provider,
            deadline=ctx.deadline,
            interval=self._settings.poll_interval_seconds,
            max_errors=self._settings.max_poll_errors,
            tolerated=polling.ask_again,
            give_up=lambda exc: polling.given_up("fal", "polling")(exc) if polling.ask_again(exc) else exc,
            progress=None if report is None else lambda fraction: report(progress_update(fraction)),
        )
        return await self._call("GET", queued.response_url, ctx, what="result")

    async def _cancel(self, queued: Queued) -> None:
        """PUT cancel_url, best effort and briefly (the caller is leaving): a queued request is not run."""
        if queued.cancel_url is None:
            return
        with contextlib.suppress(ProviderError, asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.shield(
                upstream.send(
                    self._client, self._provider, "PUT", queued.cancel_url, headers=self._headers(),
                    timeout=_CANCEL_SECONDS, what="cancel",
                )
            )

    def _check(self, url: str) -> None:
        private = self._settings.allow_private_base_url
        upstream.check_url(self._provider, url, self._api_hosts, allow_http=private, what="queue url")

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Key {self._settings.api_key}"} if self._settings.api_key else {}

    async def _call(
        self, method: str, url: str, ctx: CallContext, *, body: object = None,
        params: Mapping[str, str] | None = None, what: str,
    ) -> dict[str, Any]:
        response = await upstream.send(
            self._client, self._provider, method, url, headers=self._headers(), json=body, params=params,
            timeout=min(self._settings.request_timeout_seconds, upstream.remaining_or_deadline(self._provider, ctx.deadline)),
            what=what,
        )
        if response.status_code not in (200, 202):
            raise classify_error(response.status_code, response.headers, response.content)
        if what == "poll":
            return upstream.decode_poll_json(self._provider, response)  # garbled: TRANSIENT, asked again
        payload = upstream.decode_json(self._provider, response, what=f"{what} response")
        return payload if isinstance(payload, dict) else {}

    async def aclose(self) -> None:
        return None
