"""`replicate`: predictions. POST {base_url}/models/<owner>/<name>/predictions (or /predictions
with `version` for `owner/name:version`) with `Prefer: wait=N` (Replicate holds the request up to
60 s) and `Cancel-After` (the request's deadline); a prediction still running is then polled at
`urls.get`. Output URLs (a string or a list) are downloaded at once from `download_hosts`, without
the key. When the caller goes away or the deadline passes, `urls.cancel` is POSTed, best effort.
The pure half: adapters/replicate_translate.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from adapters import polling
from adapters.base import NoOptions, decode_settings, hosted, with_seed
from adapters.replicate_translate import (
    Prediction,
    ReplicateSettings,
    classify_error,
    decode_prediction,
    encode_request,
    model_spec,
    progress_update,
    settle,
)
from gateway import upstream
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError

__all__ = ["ReplicateAdapter", "ReplicateSettings", "classify_error", "encode_request", "model_spec"]

_CANCEL_SECONDS = 5.0


class ReplicateAdapter:
    kind: ClassVar[str] = "replicate"
    options_type: ClassVar[type[NoOptions]] = NoOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(ReplicateSettings, settings)
        self._client = client
        self._api_hosts, self._download = hosted(provider, self._settings)

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = model_spec(provider_model)
        custom = spec.custom
        return Capabilities(
            max_n=spec.max_n,
            aspect_ratios=None if custom else spec.aspect_ratios,
            min_side=custom.min_side if custom else 256,
            max_side=custom.max_side if custom else 1440,
            size_multiple=custom.multiple if custom else 1,
            supports_seed=True,
            supports_steps=spec.steps is not None,
            supports_guidance=spec.guidance is not None,
            formats=[OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP],
            streaming=True,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        req = with_seed(req)
        body, warnings = encode_request(req, model=ctx.provider_model, settings=self._settings, options=ctx.options)
        base = self._settings.base_url.rstrip("/")
        url = f"{base}/predictions" if "version" in body else f"{base}/models/{ctx.provider_model}/predictions"
        left = upstream.remaining_or_deadline(self._provider, ctx.deadline)
        wait = max(0, min(self._settings.wait_seconds, 60, math.floor(left) - 1))
        headers = {**self._headers(), "cancel-after": f"{max(1, math.ceil(left))}s"}
        if wait >= 1:
            headers["prefer"] = f"wait={wait}"
        created = await self._call("POST", url, ctx, body=body, headers=headers, timeout=wait + self._settings.request_timeout_seconds)
        prediction = decode_prediction(self._provider, created)
        for link in (prediction.urls.get, prediction.urls.cancel):
            if link is not None:
                self._check(link)  # before the key goes anywhere unexpected
        try:
            final, outputs = await self._finish(created, prediction, ctx)
        except asyncio.CancelledError:
            await self._cancel(prediction)
            raise
        except ProviderError as exc:
            if exc.failure is FailureClass.DEADLINE:
                await self._cancel(prediction)
            raise
        images = []
        outputs = outputs[: req.n]  # never fetch (or hold) more than asked: the model chose the list
        for output in outputs:
            data = await polling.download_until(
                self._client, self._provider, output, self._download, max_errors=self._settings.max_poll_errors,
                interval=self._settings.poll_interval_seconds, deadline=ctx.deadline,
                give_up=polling.given_up("replicate", "result download"),
            )
            seed = req.seed if len(outputs) == 1 and req.n == 1 else None
            images.append(ProviderImage(data=upstream.require_image(self._provider, data), seed=seed))
        return ProviderResult(images=images, raw=upstream.raw_view(final), warnings=warnings)

    async def _finish(self, created: dict[str, Any], prediction: Prediction, ctx: CallContext) -> tuple[dict[str, Any], list[str]]:
        """The created prediction if `Prefer: wait` already finished it, else polled at `urls.get`."""
        state = settle(self._provider, prediction)
        if not isinstance(state, polling.Pending):
            return created, state
        if prediction.urls.get is None:
            raise ProviderError(self._provider, FailureClass.UPSTREAM_INVALID, "replicate prediction has no urls.get")
        report, get = ctx.report, prediction.urls.get

        async def ask() -> tuple[dict[str, Any], Prediction]:
            answer = await self._call("GET", get, ctx, what="poll")
            return answer, decode_prediction(self._provider, answer, polled=True)

        def settled(asked: tuple[dict[str, Any], Prediction]) -> tuple[dict[str, Any], list[str]] | polling.Pending:
            outcome = settle(self._provider, asked[1])
            return outcome if isinstance(outcome, polling.Pending) else (asked[0], outcome)

        return await polling.poll_until(
            ask, settled, provider=self._provider, deadline=ctx.deadline, interval=self._settings.poll_interval_seconds,
            max_errors=self._settings.max_poll_errors, tolerated=polling.ask_again,
            give_up=lambda exc: polling.given_up("replicate", "polling")(exc) if polling.ask_again(exc) else exc,
            progress=None if report is None else lambda fraction: report(progress_update(fraction)),
        )

    async def _cancel(self, prediction: Prediction) -> None:
        if prediction.urls.cancel is None:
            return
        with contextlib.suppress(ProviderError, asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.shield(
                upstream.send(
                    self._client, self._provider, "POST", prediction.urls.cancel, headers=self._headers(),
                    timeout=_CANCEL_SECONDS, what="cancel",
                )
            )

    def _check(self, url: str) -> None:
        private = self._settings.allow_private_base_url
        upstream.check_url(self._provider, url, self._api_hosts, allow_http=private, what="prediction url")

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._settings.api_key}"} if self._settings.api_key else {}

    async def _call(
        self, method: str, url: str, ctx: CallContext, *, body: object = None,
        headers: Mapping[str, str] | None = None, timeout: float | None = None, what: str = "request",
    ) -> dict[str, Any]:
        left = upstream.remaining_or_deadline(self._provider, ctx.deadline)
        response = await upstream.send(
            self._client, self._provider, method, url, headers=headers or self._headers(), json=body,
            timeout=min(timeout or self._settings.request_timeout_seconds, left), what=what,
        )
        if response.status_code not in (200, 201, 202):
            raise classify_error(response.status_code, response.headers, response.content)
        if what == "poll":
            return upstream.decode_poll_json(self._provider, response)
        payload = upstream.decode_json(self._provider, response)
        return payload if isinstance(payload, dict) else {}

    async def aclose(self) -> None:
        return None
