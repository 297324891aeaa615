"""`a1111`: AUTOMATIC1111 / Forge / SD.Next started with `--api`.

One synchronous POST /sdapi/v1/txt2img; `n` is `n_iter` (one call), seeds come back in
`info.all_seeds`; optional HTTP basic auth (`--api-auth user:pass`). Streaming polls the server-wide
/sdapi/v1/progress while our txt2img runs (adapters/a1111_progress.py).

Edits are POST /sdapi/v1/img2img through the same call (`encode_edit`, adapters/a1111_edit.py).

`encode_request`, `encode_edit`, `decode_response` and `classify_error` are pure; `A1111Adapter._call`
is the I/O.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import httpx
import msgspec

from adapters import a1111_edit, a1111_progress
from adapters.base import AdapterSettingsError, decode_options, with_seed
from adapters.local_common import (
    LocalSettings,
    SamplerOptions,
    capabilities,
    check_server,
    common_fields,
    decode_local_settings,
    sampler_fields,
    size_limits,
)
from gateway import upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderImage, ProviderResult
from gateway.errors import FailureClass, ProviderError


class A1111Settings(LocalSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    username: str | None = None  # --api-auth user:pass
    password: str | None = None
    max_n: int = 10  # images per call (n_iter)
    styles: list[str] = msgspec.field(default_factory=list)  # saved styles that exist on the server
    lora_name: str | None = None  # lora_strength -> <lora:name:strength/100>
    checkpoint_override: bool = True  # send the deployment's model as the checkpoint
    # Streaming: also relay the server's `current_image` previews. The progress endpoint is
    # server-wide: turn this off when other clients share the server (progress only, no previews).
    stream_previews: bool = True


class _Encode(Protocol):
    def __call__(
        self, req: ImageRequest, *, model: str, settings: A1111Settings, options: Mapping[str, object]
    ) -> tuple[dict[str, Any], list[str]]: ...


class A1111Options(SamplerOptions, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:` for a1111: the txt2img `sampler_name` / `scheduler`."""


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: A1111Settings,
    options: SamplerOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The /sdapi/v1/txt2img body: n -> n_iter (batch_size 1 keeps VRAM flat), seed -1 when unset
    (the adapter draws one first: A1111's own pick may exceed 2^31-1, see `with_seed`)."""
    warnings: list[str] = []
    prompt = req.prompt
    if req.lora_strength is not None:  # A1111 reads a `<lora:name:weight>` prompt tag
        if settings.lora_name:
            prompt = f"{req.prompt} <lora:{settings.lora_name}:{req.lora_strength / 100:g}>"
        else:
            warnings.append("lora_strength: no LoRA is configured for this deployment; dropped")
    fields = common_fields(req, settings, warnings)
    body: dict[str, Any] = {
        "prompt": prompt,
        "seed": req.seed if req.seed is not None else -1,
        "n_iter": req.n,
        "batch_size": 1,
        "send_images": True,
        "save_images": False,
    }
    for key in ("width", "height", "steps"):
        if key in fields:
            body[key] = fields[key]
    if "cfg" in fields:
        body["cfg_scale"] = fields["cfg"]
    if req.negative_prompt is not None:
        body["negative_prompt"] = req.negative_prompt
    opts = options if isinstance(options, SamplerOptions) else decode_options(A1111Options, options)
    body.update(sampler_fields(settings, opts))
    if req.style_preset is not None:
        if req.style_preset in settings.styles:
            body["styles"] = [req.style_preset]
        else:
            warnings.append(
                f"style_preset: {req.style_preset!r} is not a saved style on this server; dropped"
            )
    if settings.checkpoint_override and model:
        body["override_settings"] = {"sd_model_checkpoint": model}
        body["override_settings_restore_afterwards"] = True
    return body, warnings


def encode_edit(
    req: ImageRequest,
    *,
    model: str,
    settings: A1111Settings,
    options: SamplerOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The /sdapi/v1/img2img body: the txt2img body (size defaulting to the base image's) plus the
    img2img fields (adapters/a1111_edit.py)."""
    edit, edit_warnings = a1111_edit.img2img_fields(req)
    plain = a1111_edit.generate_part(req, size_limits(settings))
    body, warnings = encode_request(plain, model=model, settings=settings, options=options)
    return body | edit, warnings + edit_warnings


def decode_response(provider: str, payload: object) -> tuple[list[ProviderImage], dict[str, object]]:
    """Images sliced past any grid (`index_of_first_image`), each with its seed from `info.all_seeds`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 response has no images list")
    info = _info(payload.get("info"))
    seeds = [s for s in info.get("all_seeds", []) if isinstance(s, int)]
    first = info.get("index_of_first_image", 0)
    first = first if isinstance(first, int) and first >= 0 else 0
    blobs = payload["images"][first : first + len(seeds)] if seeds else payload["images"][first:]
    images = []
    for i, blob in enumerate(blobs):
        data = _b64(provider, blob)
        images.append(ProviderImage(data=upstream.require_image(provider, data), seed=_at(seeds, i)))
    if not images:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 returned no images")
    raw = upstream.elide_base64({**payload, "info": info})
    assert isinstance(raw, dict)
    return images, raw


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """A1111's api_middleware renders `{error: <ExceptionClass>, ...}`; FastAPI's own 404 has no `error`."""
    parsed = upstream.parse_error_body(body)
    code = parsed.get("error") if isinstance(parsed, dict) and isinstance(parsed.get("error"), str) else None
    failure = upstream.status_failure(status)
    if status == 404 and code is not None:
        # An API-raised 404 ("Sampler not found", script, style): what the operator configured for
        # this deployment is missing on the server. Not the client's fault: fall back, 502 at the end.
        failure = FailureClass.MODEL_UNAVAILABLE
    message = f"a1111 HTTP {status}" + (f" ({code})" if code else "")
    retry = upstream.retry_hint(failure, headers)
    # The executor stamps the deployment's provider name on every ProviderError.
    return ProviderError("a1111", failure, message, status=status, retry_after=retry, provider_code=code)


class A1111Adapter:
    kind: ClassVar[str] = "a1111"
    options_type: ClassVar[type[A1111Options]] = A1111Options

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_local_settings(A1111Settings, settings, kind=self.kind)
        self._client = client
        if (self._settings.username is None) != (self._settings.password is None):
            raise AdapterSettingsError("username and password must be given together", "password")
        check_server(provider, self._settings)
        self._serial = asyncio.Lock()  # a1111 runs one job at a time; ours go one by one (progress is global)

    def capabilities(self, provider_model: str) -> Capabilities:
        caps = capabilities(self._settings, max_n=self._settings.max_n)
        return msgspec.structs.replace(caps, edit=True, max_input_images=1, edit_mask=True)

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """With `ctx.report`: poll /sdapi/v1/progress while our txt2img runs (jobs serialised per
        server, so the global progress is ours)."""
        return await self._job("/sdapi/v1/txt2img", encode_request, req, ctx)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """img2img (inpainting with a mask): the same job, progress and answer as txt2img."""
        return await self._job("/sdapi/v1/img2img", encode_edit, req, ctx)

    async def _job(self, path: str, encode: _Encode, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        async with self._serial:
            if ctx.report is None:
                return await self._call(path, encode, req, ctx)
            return await a1111_progress.follow(
                self._call(path, encode, req, ctx),
                self._progress,
                interval=self._settings.poll_interval_seconds,
                report=ctx.report,
                previews=self._settings.stream_previews,
            )

    async def _progress(self) -> bytes:
        """One poll of the server-wide progress; failures are not errors (progress is advisory)."""
        try:
            response = await self._send(
                "GET",
                a1111_progress.PROGRESS_PATH,
                params=a1111_progress.PROGRESS_PARAMS,
                timeout=max(1.0, self._settings.poll_interval_seconds * 4),
                what="progress",
            )
        except ProviderError:
            return b""
        return response.content if response.status_code == 200 else b""

    async def _call(self, path: str, encode: _Encode, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        if req.n > self._settings.max_n:
            raise ProviderError(
                self._provider, FailureClass.CALLER_FAULT, f"at most {self._settings.max_n} per call"
            )
        body, warnings = encode(with_seed(req), model=ctx.provider_model, settings=self._settings, options=ctx.options)
        left = upstream.remaining_or_deadline(self._provider, ctx.deadline)
        response = await self._send("POST", path, json=body, timeout=min(self._settings.timeout_seconds, left))
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        images, raw = decode_response(self._provider, upstream.decode_json(self._provider, response))
        return ProviderResult(images=images, raw=raw, warnings=warnings)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        timeout: float,
        json: object = None,
        params: Mapping[str, str] | None = None,
        what: str = "request",
    ) -> httpx.Response:
        settings = self._settings
        auth = (settings.username, settings.password) if settings.username and settings.password else None
        url = settings.base_url.rstrip("/") + path
        return await upstream.send(
            self._client,
            self._provider,
            method,
            url,
            json=json,
            params=params,
            auth=auth,
            timeout=timeout,
            what=what,
        )

    async def aclose(self) -> None:
        return None


def _info(value: object) -> dict[str, Any]:
    """`info` is a JSON *string* (Processed.js()); parse it, tolerate an object or garbage."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _b64(provider: str, blob: object) -> bytes:
    if not isinstance(blob, str):
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 image is not a base64 string")
    data = upstream.decode_base64(blob, data_url=True)
    if data is None:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 image is not base64")
    return data


def _at(seeds: list[int], i: int) -> int | None:
    return seeds[i] if i < len(seeds) else None
