"""The ComfyUI backend of `local_diffusion`: a workflow template with placeholders.

The operator supplies an API-format graph (`workflow` inline or `workflow_path`) and `placeholders`
mapping canonical names to `"<node_id>.<input>"`; without them the bundled SD 1.5/SDXL-style graph
(comfyui_default_workflow.json) is used. Flow: POST /prompt -> poll GET /history/{prompt_id} under
`ctx.deadline` -> GET /view for every output image. ComfyUI's KSampler needs a concrete seed, so
the gateway draws one when the request has none and reports it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from adapters import comfyui_ws, polling
from adapters.base import AdapterSettingsError
from gateway import upstream
from gateway.canonical import CallContext, ImageRequest, ProviderImage, ProviderResult
from gateway.errors import FailureClass, ProviderError

if TYPE_CHECKING:
    from adapters.local_diffusion import LocalDiffusionSettings

BUNDLED_WORKFLOW = Path(__file__).with_name("comfyui_default_workflow.json")
DEFAULT_PLACEHOLDERS = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "seed": "3.seed",
    "steps": "3.steps",
    "cfg": "3.cfg",
    "width": "5.width",
    "height": "5.height",
    "batch_size": "5.batch_size",
    "checkpoint": "4.ckpt_name",
    "sampler_name": "3.sampler_name",  # written only when configured (setting or deployment option)
    "scheduler": "3.scheduler",
}
PLACEHOLDER_NAMES = frozenset({*DEFAULT_PLACEHOLDERS, "sampler_name", "scheduler", "lora_strength"})
MAX_SEED = 2**31 - 1
_POLL_TOLERATED = (FailureClass.CONNECT, FailureClass.AMBIGUOUS, FailureClass.TRANSIENT)


def load_workflow(settings: LocalDiffusionSettings) -> tuple[dict[str, Any], dict[str, str]]:
    """The template graph and its placeholder map, validated against each other."""
    if settings.workflow is not None:
        graph: object = settings.workflow
    elif settings.workflow_path is not None:
        try:
            graph = json.loads(Path(settings.workflow_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AdapterSettingsError(f"cannot load workflow: {exc}", "workflow_path") from exc
    else:
        graph = json.loads(BUNDLED_WORKFLOW.read_text(encoding="utf-8"))
    custom = settings.workflow is not None or settings.workflow_path is not None
    if custom and settings.placeholders is None:
        raise AdapterSettingsError("a custom workflow needs a placeholders mapping", "placeholders")
    placeholders = settings.placeholders or DEFAULT_PLACEHOLDERS
    if not isinstance(graph, dict):
        raise AdapterSettingsError("workflow must be an API-format graph object", "workflow")
    for name, target in placeholders.items():
        if name not in PLACEHOLDER_NAMES:
            raise AdapterSettingsError(f"unknown placeholder {name!r}", f"placeholders.{name}")
        node, _, field = target.partition(".")
        inputs = graph.get(node, {}).get("inputs") if isinstance(graph.get(node), dict) else None
        if not isinstance(inputs, dict) or not field:
            raise AdapterSettingsError(f"{target!r} does not name a node input", f"placeholders.{name}")
    if "prompt" not in placeholders:
        raise AdapterSettingsError("the prompt placeholder is required", "placeholders")
    return graph, placeholders


def encode_prompt(
    graph: Mapping[str, Any],
    placeholders: Mapping[str, str],
    values: Mapping[str, object],
) -> tuple[dict[str, Any], list[str]]:
    """A copy of the graph with each value written to its placeholder; values without one are reported."""
    filled = copy.deepcopy(dict(graph))
    warnings = []
    for name, value in values.items():
        target = placeholders.get(name)
        if target is None:
            warnings.append(f"{name}: this workflow has no placeholder for it; dropped")
            continue
        node, _, field = target.partition(".")
        filled[node]["inputs"][field] = value
    return filled, warnings


@dataclass(slots=True)
class ComfyBackend:
    provider: str
    settings: LocalDiffusionSettings
    client: httpx.AsyncClient
    graph: dict[str, Any]
    placeholders: dict[str, str]
    connect_ws: comfyui_ws.Connect = comfyui_ws.connect  # tests inject a fake websocket

    @classmethod
    def load(cls, provider: str, settings: LocalDiffusionSettings, client: httpx.AsyncClient) -> ComfyBackend:
        graph, placeholders = load_workflow(settings)
        return cls(provider, settings, client, graph, placeholders)

    @property
    def base(self) -> str:
        return self.settings.base_url.rstrip("/")

    async def generate(
        self, req: ImageRequest, ctx: CallContext, fields: dict[str, Any], warnings: list[str]
    ) -> ProviderResult:
        """With `ctx.report`: progress and previews from the websocket (comfyui_ws), then the
        images fetched the same way."""
        if ctx.report is not None:
            return await comfyui_ws.run_prompt(self, req, ctx, fields, warnings, ctx.report)
        graph, seed, dropped = self.prepare(req, ctx, fields)
        queued = await self._queue(graph, ctx)
        return await self.finish(queued, seed, ctx, warnings + dropped)

    def prepare(
        self, req: ImageRequest, ctx: CallContext, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], int, list[str]]:
        """The graph to queue, its seed, and warnings for placeholders the template lacks."""
        seed = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED + 1)
        values: dict[str, object] = {**fields, "seed": seed, "batch_size": 1}
        if req.negative_prompt is not None:
            values["negative_prompt"] = req.negative_prompt
        if ctx.provider_model and "checkpoint" in self.placeholders:
            values["checkpoint"] = ctx.provider_model
        graph, dropped = encode_prompt(self.graph, self.placeholders, values)
        return graph, seed, dropped

    async def finish(
        self, queued: dict[str, Any], seed: int, ctx: CallContext, warnings: list[str]
    ) -> ProviderResult:
        entry = await self._wait(str(queued["prompt_id"]), ctx)
        images = [ProviderImage(data=data, seed=seed) for data in await self._fetch_outputs(entry, ctx)]
        history = {k: v for k, v in entry.items() if k != "prompt"}  # the echoed graph is large
        raw = upstream.elide_base64({"prompt": queued, "history": history})
        assert isinstance(raw, dict)
        return ProviderResult(images=images, raw=raw, warnings=warnings)

    async def withdraw(self, prompt_id: str, ctx: CallContext, *, running: bool) -> None:
        """Stop our prompt only: interrupt it if it runs (the body names it, so a current ComfyUI
        interrupts nothing else), else delete it from the queue. Best effort, never raises."""
        path, body = ("/interrupt", {"prompt_id": prompt_id}) if running else ("/queue", {"delete": [prompt_id]})
        with contextlib.suppress(ProviderError):
            await self._request("POST", path, ctx, json=body, what="cancel")

    async def _queue(
        self, graph: dict[str, Any], ctx: CallContext, client_id: str | None = None
    ) -> dict[str, Any]:
        response = await self._request(
            "POST", "/prompt", ctx, json={"prompt": graph, "client_id": client_id or str(uuid.uuid4())}
        )
        if response.status_code != 200:
            raise classify_prompt_error(
                self.provider, response.status_code, response.headers, response.content
            )
        payload = upstream.decode_json(self.provider, response, what="prompt response")
        if not isinstance(payload, dict) or not isinstance(payload.get("prompt_id"), str):
            raise ProviderError(self.provider, FailureClass.UPSTREAM_INVALID, "comfyui queued no prompt_id")
        return payload

    async def _wait(self, prompt_id: str, ctx: CallContext) -> dict[str, Any]:
        """Poll /history until the prompt finished; failed polls (idempotent GETs) are tolerated a few times."""
        return await polling.poll_until(
            lambda: self._history(prompt_id, ctx),
            self._settle,
            provider=self.provider,
            deadline=ctx.deadline,
            interval=self.settings.poll_interval_seconds,
            max_errors=self.settings.max_poll_errors,
            tolerated=lambda exc: exc.failure in _POLL_TOLERATED,
        )

    def _settle(self, entry: dict[str, Any] | None) -> dict[str, Any] | polling.Pending:
        if entry is None:
            return polling.Pending()
        failure = classify_history(self.provider, entry)
        if failure is not None:
            raise failure
        status = entry.get("status")
        if not isinstance(status, dict) or status.get("completed", True):
            return entry
        return polling.Pending()

    async def _history(self, prompt_id: str, ctx: CallContext) -> dict[str, Any] | None:
        """The finished history entry, or None while ComfyUI still answers `{}`."""
        response = await self._request("GET", f"/history/{prompt_id}", ctx, what="history")
        if response.status_code != 200:
            failure = upstream.status_failure(response.status_code)
            raise ProviderError(self.provider, failure, "comfyui history failed", status=response.status_code)
        payload = upstream.decode_poll_json(self.provider, response, what="history")  # garbled: TRANSIENT
        entry = payload.get(prompt_id)
        return entry if isinstance(entry, dict) else None

    async def _fetch_outputs(self, entry: dict[str, Any], ctx: CallContext) -> list[bytes]:
        policy = upstream.DownloadPolicy(
            allowed_hosts=(httpx.URL(self.base).host,),
            allow_http=True,
            max_bytes=self.settings.max_download_bytes,
            timeout=max(0.001, upstream.remaining_or_deadline(self.provider, ctx.deadline)),
            transport_failure=FailureClass.TRANSIENT,
        )
        blobs = []
        for ref in output_images(entry):
            data = await polling.download_until(  # /view may 404 for a moment after completion
                self.client,
                self.provider,
                self.base + "/view",
                policy,
                params=ref,
                max_errors=self.settings.max_poll_errors,
                interval=self.settings.poll_interval_seconds,
                deadline=ctx.deadline,
            )
            blobs.append(upstream.require_image(self.provider, data))
        if not blobs:
            raise ProviderError(
                self.provider, FailureClass.UPSTREAM_INVALID, "comfyui finished with no output image"
            )
        return blobs

    async def _request(
        self, method: str, path: str, ctx: CallContext, *, json: object = None, what: str = "request"
    ) -> httpx.Response:
        left = 5.0 if what == "cancel" else upstream.remaining_or_deadline(self.provider, ctx.deadline)
        return await upstream.send(
            self.client,
            self.provider,
            method,
            self.base + path,
            json=json,
            timeout=min(self.settings.timeout_seconds, left),
            what=what,
        )


def output_images(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """`/view` query parameters for every saved (type "output") image, in node order."""
    refs = []
    outputs = entry.get("outputs")
    for node_output in (outputs or {}).values() if isinstance(outputs, dict) else []:
        for image in node_output.get("images", []) if isinstance(node_output, dict) else []:
            if isinstance(image, dict) and image.get("type", "output") == "output" and image.get("filename"):
                refs.append(
                    {
                        "filename": str(image["filename"]),
                        "subfolder": str(image.get("subfolder", "")),
                        "type": "output",
                    }
                )
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
    return ProviderError(
        provider,
        FailureClass.TRANSIENT,
        "comfyui execution failed" + (f" ({exception_type})" if isinstance(exception_type, str) else ""),
        status=200,
        provider_code=exception_type if isinstance(exception_type, str) else "execution_error",
    )


def classify_prompt_error(provider: str, status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
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
    return ProviderError(
        provider,
        failure,
        message,
        status=status,
        retry_after=retry,
        provider_code=code if isinstance(code, str) else None,
    )
