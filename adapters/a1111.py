"""`a1111`: AUTOMATIC1111 / Forge / SD.Next started with `--api`.

One synchronous POST /sdapi/v1/txt2img; `n` is `n_iter` (one call), seeds come back in
`info.all_seeds`; optional HTTP basic auth (`--api-auth user:pass`). Streaming polls the server-wide
/sdapi/v1/progress while our txt2img runs (adapters/a1111_progress.py).

Edits are POST /sdapi/v1/img2img through the same call (`encode_edit`, adapters/a1111_edit.py).

`encode_request`, `encode_edit` and adapters/a1111_translate.py (`decode_response`,
`classify_error`) are pure; `A1111Adapter._call` is the I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import msgspec

from adapters import a1111_edit, a1111_progress
from adapters.a1111_translate import classify_error, decode_response
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
from gateway import imaging, upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderResult
from gateway.errors import FailureClass, ProviderError

__all__ = [
    "A1111Adapter",
    "A1111Options",
    "A1111Settings",
    "classify_error",
    "decode_response",
    "encode_edit",
    "encode_request",
]


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
        self._check_n(req)
        body, warnings = encode_request(
            with_seed(req), model=ctx.provider_model, settings=self._settings, options=ctx.options
        )
        return await self._job("/sdapi/v1/txt2img", body, warnings, ctx)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """img2img (inpainting with a mask): the same job, progress and answer as txt2img. The
        encoding (base64, the mask conversion) runs in the image pool, off the event loop."""
        self._check_n(req)
        body, warnings = await imaging.off_loop(
            encode_edit,
            with_seed(req),
            model=ctx.provider_model,
            settings=self._settings,
            options=ctx.options,
        )
        return await self._job("/sdapi/v1/img2img", body, warnings, ctx)

    def _check_n(self, req: ImageRequest) -> None:
        if req.n > self._settings.max_n:
            raise ProviderError(
                self._provider, FailureClass.CALLER_FAULT, f"at most {self._settings.max_n} per call"
            )

    async def _job(
        self, path: str, body: dict[str, Any], warnings: list[str], ctx: CallContext
    ) -> ProviderResult:
        async with self._serial:
            if ctx.report is None:
                return await self._call(path, body, warnings, ctx)
            return await a1111_progress.follow(
                self._call(path, body, warnings, ctx),
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

    async def _call(
        self, path: str, body: dict[str, Any], warnings: list[str], ctx: CallContext
    ) -> ProviderResult:
        left = upstream.remaining_or_deadline(self._provider, ctx.deadline)
        response = await self._send(
            "POST", path, json=body, timeout=min(self._settings.timeout_seconds, left)
        )
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
