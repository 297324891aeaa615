"""`comfyui`: a ComfyUI server running an operator's workflow template (adapters/comfyui_workflow.py).

Flow: POST /prompt -> poll GET /history/{prompt_id} under `ctx.deadline` -> GET /view for every
output image. Streaming reads progress and previews from the websocket (adapters/comfyui_ws.py).
ComfyUI's KSampler needs a concrete seed, so the gateway draws one when the request has none and
reports it. ComfyUI makes one image per call; the gateway fans `n` out.

`encode_request`, `decode_response` (history entry -> /view references), `classify_error` and
`classify_history` are pure; `ComfyUIAdapter` does the I/O.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from adapters import comfyui_ws, polling
from adapters.base import decode_options, with_seed
from adapters.comfyui_workflow import Template, encode_prompt, load_workflow, workflow_values
from adapters.local_common import (
    LocalSettings,
    SamplerOptions,
    capabilities,
    check_server,
    decode_local_settings,
    sampler_fields,
)
from gateway import upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderImage, ProviderResult
from gateway.errors import FailureClass, ProviderError

_POLL_TOLERATED = (FailureClass.CONNECT, FailureClass.AMBIGUOUS, FailureClass.TRANSIENT)


class ComfyUISettings(LocalSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    workflow: dict[str, Any] | None = None  # API-format graph (else workflow_path, else the bundled one)
    workflow_path: str | None = None
    placeholders: dict[str, str] | None = None  # canonical name -> "node_id.input"
    max_poll_errors: int = 3  # consecutive failed /history polls (and /view fetches) tolerated
    max_download_bytes: int = 50 * 1024 * 1024


class ComfyUIOptions(SamplerOptions, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:` for comfyui: the `sampler_name` / `scheduler` placeholders."""


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: ComfyUISettings,
    template: Template,
    options: SamplerOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The graph to queue (the template with every value written) and the warnings; `req.seed` is
    set (the adapter draws one first: the KSampler needs it)."""
    if req.n != 1:
        raise ProviderError("comfyui", FailureClass.CALLER_FAULT, "comfyui makes one image per call")
    warnings: list[str] = []
    values = workflow_values(req, settings, warnings)
    opts = options if isinstance(options, SamplerOptions) else decode_options(ComfyUIOptions, options)
    values |= sampler_fields(settings, opts)
    if req.style_preset is not None:
        warnings.append("style_preset: not supported by comfyui; dropped")
    values |= {"seed": req.seed, "batch_size": 1}
    if req.negative_prompt is not None:
        values["negative_prompt"] = req.negative_prompt
    graph, placeholders = template
    if model and "checkpoint" in placeholders:
        values["checkpoint"] = model
    filled, dropped = encode_prompt(graph, placeholders, values)
    return filled, warnings + dropped


def decode_response(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """`/view` query parameters for every saved (type "output") image of a history entry, in node order."""
    refs = []
    outputs = entry.get("outputs")
    for node_output in (outputs or {}).values() if isinstance(outputs, dict) else []:
        for image in node_output.get("images", []) if isinstance(node_output, dict) else []:
            if isinstance(image, dict) and image.get("type", "output") == "output" and image.get("filename"):
                folder = str(image.get("subfolder", ""))
                refs.append({"filename": str(image["filename"]), "subfolder": folder, "type": "output"})
    return refs


def classify_history(provider: str, entry: Mapping[str, Any]) -> ProviderError | None:
    """A finished history entry with `status_str: error` -> TRANSIENT (execution failed, e.g. OOM)."""
    status = entry.get("status")
    if not isinstance(status, dict) or status.get("status_str") != "error":
        return None
    exception_type = None
    for message in status.get("messages", []):
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            data = message[1] if isinstance(message[1], dict) else {}
            exception_type = data.get("exception_type")
    code = exception_type if isinstance(exception_type, str) else None
    message = "comfyui execution failed" + (f" ({code})" if code else "")
    return ProviderError(
        provider, FailureClass.TRANSIENT, message, status=200, provider_code=code or "execution_error"
    )


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """POST /prompt errors: 400 `{error: {type}, node_errors}` is our template or values at fault."""
    parsed = upstream.parse_error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("type") if isinstance(error, dict) else error if isinstance(error, str) else None
    failure = upstream.status_failure(status)
    nodes = parsed.get("node_errors") if isinstance(parsed, dict) else None
    message = f"comfyui HTTP {status}" + (f" ({code})" if isinstance(code, str) else "")
    if isinstance(nodes, dict) and nodes:
        message += f" in nodes {sorted(nodes)}"
    retry = upstream.retry_hint(failure, headers)
    code = code if isinstance(code, str) else None
    # The executor stamps the deployment's provider name on every ProviderError.
    return ProviderError("comfyui", failure, message, status=status, retry_after=retry, provider_code=code)


class ComfyUIAdapter:
    kind: ClassVar[str] = "comfyui"
    options_type: ClassVar[type[ComfyUIOptions]] = ComfyUIOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_local_settings(ComfyUISettings, settings, kind=self.kind)
        self._client = client
        check_server(provider, self._settings)
        self._template = load_workflow(self._settings)
        self._base = self._settings.base_url.rstrip("/")
        self.connect_ws: comfyui_ws.Connect = comfyui_ws.connect  # tests inject a fake websocket

    def capabilities(self, provider_model: str) -> Capabilities:
        return capabilities(self._settings, max_n=1)

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
        images = [ProviderImage(data=data, seed=req.seed) for data in await self._fetch_outputs(entry, ctx)]
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
        self, method: str, path: str, ctx: CallContext, *, json: object = None, what: str = "request"
    ) -> httpx.Response:
        left = 5.0 if what == "cancel" else upstream.remaining_or_deadline(self._provider, ctx.deadline)
        timeout = min(self._settings.timeout_seconds, left)
        return await upstream.send(
            self._client, self._provider, method, self._base + path, json=json, timeout=timeout, what=what
        )

    async def aclose(self) -> None:
        return None
