"""`comfyui`: a ComfyUI server running an operator's workflow template (adapters/comfyui_workflow.py).

Flow: POST /prompt -> poll GET /history/{prompt_id} under `ctx.deadline` -> GET /view for every
output image. Streaming reads progress and previews from the websocket (adapters/comfyui_ws.py).
ComfyUI's KSampler needs a concrete seed, so the gateway draws one when the request has none and
reports it. ComfyUI makes one image per call; the gateway fans `n` out.

Edits (adapters/comfyui_edit.py) upload the inputs with POST /upload/image, then queue the edit
template through the same prompt/history/view path.

`encode_request` and adapters/comfyui_translate.py (`decode_response`: history entry -> /view
references, `classify_error`, `classify_history`) are pure; `ComfyUIAdapter` does the I/O.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import msgspec

from adapters import comfyui_edit, comfyui_ws, polling
from adapters.base import decode_options, with_seed
from adapters.comfyui_translate import (
    ComfyUIOptions,
    ComfyUISettings,
    classify_error,
    classify_history,
    decode_response,
    encode_request,
)
from adapters.comfyui_workflow import load_workflow
from adapters.local_common import (
    capabilities,
    check_server,
    decode_local_settings,
)
from gateway import imaging, upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderImage, ProviderResult
from gateway.errors import FailureClass, ProviderError

__all__ = [
    "ComfyUIAdapter",
    "ComfyUIOptions",
    "ComfyUISettings",
    "classify_error",
    "classify_history",
    "decode_response",
    "encode_request",
]
_POLL_TOLERATED = (FailureClass.CONNECT, FailureClass.AMBIGUOUS, FailureClass.TRANSIENT)


class ComfyUIAdapter:
    kind: ClassVar[str] = "comfyui"
    options_type: ClassVar[type[ComfyUIOptions]] = ComfyUIOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_local_settings(ComfyUISettings, settings, kind=self.kind)
        self._client = client
        check_server(provider, self._settings)
        self._template = load_workflow(self._settings)
        self._edit_template = comfyui_edit.load_edit_workflow(self._settings)
        self._base = self._settings.base_url.rstrip("/")
        self.connect_ws: comfyui_ws.Connect = comfyui_ws.connect  # tests inject a fake websocket

    def capabilities(self, provider_model: str) -> Capabilities:
        return msgspec.structs.replace(
            capabilities(self._settings, max_n=1),
            edit=True,
            max_input_images=comfyui_edit.max_inputs(self._edit_template),
            edit_mask="mask" in self._edit_template[1],
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """With `ctx.report`: progress and previews from the websocket, then the images fetched
        the same way."""
        req = with_seed(req)
        graph, warnings = encode_request(
            req,
            model=ctx.provider_model,
            settings=self._settings,
            template=self._template,
            options=ctx.options,
        )
        return await self._run(graph, warnings, req.seed, ctx)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """Upload every input (and the converted mask), then queue the edit template with the
        names ComfyUI answered; the rest is generate's path."""
        req = with_seed(req)
        # The mask conversion decodes a picture: in the image pool, off the event loop.
        uploads, upload_warnings = await imaging.off_loop(comfyui_edit.plan_uploads, req, self._edit_template)
        send = functools.partial(self._request, ctx=ctx)
        names = {item.placeholder: await comfyui_edit.upload(send, self._provider, item) for item in uploads}
        graph, warnings = comfyui_edit.encode_edit(
            req,
            model=ctx.provider_model,
            settings=self._settings,
            template=self._edit_template,
            names=names,
            options=decode_options(ComfyUIOptions, ctx.options),
        )
        return await self._run(graph, upload_warnings + warnings, req.seed, ctx)

    async def _run(
        self, graph: dict[str, Any], warnings: list[str], seed: int | None, ctx: CallContext
    ) -> ProviderResult:
        async def queue(client_id: str) -> dict[str, Any]:
            queued = await self._queue(graph, ctx, client_id)
            if ctx.submitted is not None:  # an async job keeps the prompt id: a takeover waits on it
                ctx.submitted(str(queued["prompt_id"]))
            return queued

        async def withdraw(prompt_id: str, running: bool) -> None:
            await self._withdraw(prompt_id, ctx, running=running)

        if ctx.resume is not None:  # an async job taken over: wait for the prompt its first runner queued
            queued = {"prompt_id": ctx.resume}
        elif ctx.report is None:
            queued = await queue(str(uuid.uuid4()))
        else:
            queued = await comfyui_ws.queue_watched(self.connect_ws, self._base, queue, withdraw, ctx.report)
        entry = await self._wait(str(queued["prompt_id"]), ctx)
        images = [ProviderImage(data=data, seed=seed) for data in await self._fetch_outputs(entry, ctx)]
        history = {k: v for k, v in entry.items() if k != "prompt"}  # the echoed graph is large
        raw = upstream.elide_base64({"prompt": queued, "history": history})
        assert isinstance(raw, dict)
        return ProviderResult(images=images, raw=raw, warnings=warnings)

    async def _queue(self, graph: dict[str, Any], ctx: CallContext, client_id: str) -> dict[str, Any]:
        response = await self._request("POST", "/prompt", ctx, json={"prompt": graph, "client_id": client_id})
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        payload = upstream.decode_json(self._provider, response, what="prompt response")
        if not isinstance(payload, dict) or not isinstance(payload.get("prompt_id"), str):
            raise ProviderError(self._provider, FailureClass.UPSTREAM_INVALID, "comfyui queued no prompt_id")
        return payload

    async def _withdraw(self, prompt_id: str, ctx: CallContext, *, running: bool) -> None:
        """Stop our prompt only: interrupt it if it runs (the body names it, so a current ComfyUI
        interrupts nothing else), else delete it from the queue. Best effort, never raises."""
        path, body = (
            ("/interrupt", {"prompt_id": prompt_id}) if running else ("/queue", {"delete": [prompt_id]})
        )
        with contextlib.suppress(ProviderError):
            await self._request("POST", path, ctx, json=body, what="cancel")

    async def _wait(self, prompt_id: str, ctx: CallContext) -> dict[str, Any]:
        """Poll /history until the prompt finished; failed polls (idempotent GETs) are tolerated a few times."""
        return await polling.poll_until(
            lambda: self._history(prompt_id, ctx),
            self._settle,
            provider=self._provider,
            deadline=ctx.deadline,
            interval=self._settings.poll_interval_seconds,
            max_errors=self._settings.max_poll_errors,
            tolerated=lambda exc: exc.failure in _POLL_TOLERATED,
        )

    def _settle(self, entry: dict[str, Any] | None) -> dict[str, Any] | polling.Pending:
        if entry is None:
            return polling.Pending()
        failure = classify_history(self._provider, entry)
        if failure is not None:
            raise failure
        status = entry.get("status")
        return entry if not isinstance(status, dict) or status.get("completed", True) else polling.Pending()

    async def _history(self, prompt_id: str, ctx: CallContext) -> dict[str, Any] | None:
        """The finished history entry, or None while ComfyUI still answers `{}`."""
        response = await self._request("GET", f"/history/{prompt_id}", ctx, what="history")
        if response.status_code != 200:
            failure = upstream.status_failure(response.status_code)
            raise ProviderError(
                self._provider, failure, "comfyui history failed", status=response.status_code
            )
        payload = upstream.decode_poll_json(self._provider, response, what="history")  # garbled: TRANSIENT
        entry = payload.get(prompt_id)
        return entry if isinstance(entry, dict) else None

    async def _fetch_outputs(self, entry: dict[str, Any], ctx: CallContext) -> list[bytes]:
        policy = upstream.DownloadPolicy(
            allowed_hosts=(httpx.URL(self._base).host,),
            allow_http=True,
            max_bytes=self._settings.max_download_bytes,
            timeout=max(0.001, upstream.remaining_or_deadline(self._provider, ctx.deadline)),
            transport_failure=FailureClass.TRANSIENT,
        )
        blobs = []
        for ref in decode_response(entry):
            data = await polling.download_until(  # /view may 404 for a moment after completion
                self._client,
                self._provider,
                self._base + "/view",
                policy,
                params=ref,
                max_errors=self._settings.max_poll_errors,
                interval=self._settings.poll_interval_seconds,
                deadline=ctx.deadline,
            )
            blobs.append(upstream.require_image(self._provider, data))
        if not blobs:
            raise ProviderError(
                self._provider, FailureClass.UPSTREAM_INVALID, "comfyui finished with no output image"
            )
        return blobs

    async def _request(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        json: object = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        data: Mapping[str, str] | None = None,
        what: str = "request",
    ) -> httpx.Response:
        left = 5.0 if what == "cancel" else upstream.remaining_or_deadline(self._provider, ctx.deadline)
        timeout = min(self._settings.timeout_seconds, left)
        url = self._base + path
        return await upstream.send(
            self._client,
            self._provider,
            method,
            url,
            json=json,
            files=files,
            data=data,
            timeout=timeout,
            what=what,
        )

    async def aclose(self) -> None:
        return None
