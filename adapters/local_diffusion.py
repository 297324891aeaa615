"""`local_diffusion`: self-hosted Stable Diffusion servers.

backend `a1111`:   AUTOMATIC1111 / Forge / SD.Next, one synchronous POST /sdapi/v1/txt2img; `n` is
                   `n_iter` (one call), seeds come back in `info.all_seeds`; optional HTTP basic auth.
backend `comfyui`: a workflow template with placeholders (adapters/comfyui.py), queued with
                   POST /prompt, finished via /history/{id}, bytes from /view.

Local servers speak plain http, so http is allowed for their own host only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
import msgspec

from adapters import a1111_progress, comfyui
from adapters.base import (
    AdapterSettingsError,
    check_base_url,
    decode_options,
    decode_settings,
    with_seed,
)
from gateway import sizing, upstream
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProviderImage,
    ProviderResult,
    Quality,
)
from gateway.errors import FailureClass, ProviderError


class LocalDiffusionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    backend: Literal["a1111", "comfyui"]
    base_url: str = "http://127.0.0.1:7860"
    username: str | None = None  # a1111 --api-auth user:pass
    password: str | None = None
    timeout_seconds: float = 600.0
    max_n: int = 10  # a1111 images per call (n_iter); comfyui always 1 (the gateway fans out)
    default_steps: int = 20
    max_steps: int = 150
    min_cfg: float = 1.0
    max_cfg: float = 30.0
    min_side: int = 64
    max_side: int = 2048
    sampler_name: str | None = None
    scheduler: str | None = None
    styles: list[str] = msgspec.field(default_factory=list)  # saved styles that exist on the server
    lora_name: str | None = None  # lora_strength -> <lora:name:strength/100>
    checkpoint_override: bool = True  # send the deployment's model as the checkpoint
    workflow: dict[str, Any] | None = None  # comfyui: API-format graph (else workflow_path / bundled)
    workflow_path: str | None = None
    placeholders: dict[str, str] | None = None  # comfyui: canonical name -> "node_id.input"
    poll_interval_seconds: float = 0.5
    # a1111 streaming: also relay the server's `current_image` previews. The progress endpoint is
    # server-wide: turn this off when other clients share the server (progress only, no previews).
    stream_previews: bool = True
    max_poll_errors: int = 3  # comfyui: consecutive failed /history polls tolerated
    max_download_bytes: int = 50 * 1024 * 1024
    allow_private_base_url: bool = True  # local servers: http and private addresses are the norm


class LocalDiffusionOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:`: override the provider's settings of the same name for one model
    (a1111: the txt2img fields; comfyui: the `sampler_name` / `scheduler` placeholders)."""

    sampler_name: str | None = None  # e.g. "DPM++ 2M"
    scheduler: str | None = None  # e.g. "Karras"


def sampler_fields(settings: LocalDiffusionSettings, options: LocalDiffusionOptions) -> dict[str, str]:
    """sampler_name / scheduler: the deployment's option, else the provider's setting."""
    chosen = {
        "sampler_name": options.sampler_name or settings.sampler_name,
        "scheduler": options.scheduler or settings.scheduler,
    }
    return {key: value for key, value in chosen.items() if value}


def size_limits(settings: LocalDiffusionSettings) -> sizing.FreeLimits:
    return sizing.FreeLimits(multiple=8, min_side=settings.min_side, max_side=settings.max_side)


def common_fields(req: ImageRequest, settings: LocalDiffusionSettings, warnings: list[str]) -> dict[str, Any]:
    """What both backends share: prompt (+LoRA), size, steps (explicit or quality preset), cfg.

    LoRA: A1111 reads a `<lora:name:weight>` prompt tag; a ComfyUI workflow takes the weight
    (0..1) through its `lora_strength` placeholder (e.g. a LoraLoader's strength_model).
    """
    fields: dict[str, Any] = {"prompt": req.prompt}
    if req.lora_strength is not None and settings.backend == "comfyui":
        fields["lora_strength"] = req.lora_strength / 100
    elif req.lora_strength is not None:
        if settings.lora_name:
            fields["prompt"] = f"{req.prompt} <lora:{settings.lora_name}:{req.lora_strength / 100:g}>"
        else:
            warnings.append("lora_strength: no LoRA is configured for this deployment; dropped")
    wanted = sizing.requested_size(req)
    if wanted is not None:
        snapped = sizing.snap_free(wanted, size_limits(settings), explicit=sizing.is_explicit(req))
        fields["width"], fields["height"] = snapped.size
        warnings.extend([snapped.warning] if snapped.warning else [])
    if req.steps is not None:
        fields["steps"] = req.steps
        if req.quality is not None and req.quality is not Quality.AUTO:
            warnings.append(f"quality: {req.quality.value} ignored because steps is given")
    else:
        preset = sizing.steps_for_quality(req.quality, settings.default_steps, settings.max_steps)
        if preset is not None:
            fields["steps"] = preset
    if req.guide_scale is not None:
        cfg, warning = sizing.clamp("guide_scale", req.guide_scale, settings.min_cfg, settings.max_cfg)
        fields["cfg"] = cfg
        warnings.extend([warning] if warning else [])
    warnings.extend(_dropped(req))
    return fields


def _dropped(req: ImageRequest) -> list[str]:
    unsupported = {
        "style": req.style is not None,
        "enable_web_search": bool(req.enable_web_search),
        "safe_mode": req.safe_mode is True,  # no NSFW filter on a plain local server
        "user": req.user is not None,
    }
    return [
        f"{name}: not supported by local diffusion; dropped" for name, used in unsupported.items() if used
    ]


def encode_a1111(
    req: ImageRequest,
    *,
    model: str,
    settings: LocalDiffusionSettings,
    options: LocalDiffusionOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The /sdapi/v1/txt2img body: n -> n_iter (batch_size 1 keeps VRAM flat), seed -1 when unset
    (the adapter draws one first: A1111's own pick may exceed 2^31-1, see `with_seed`)."""
    warnings: list[str] = []
    fields = common_fields(req, settings, warnings)
    body: dict[str, Any] = {
        "prompt": fields["prompt"],
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
    body.update(sampler_fields(settings, decode_options(LocalDiffusionOptions, options)))
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


def decode_a1111(provider: str, payload: object) -> tuple[list[ProviderImage], dict[str, object]]:
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


def classify_a1111(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
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
    return ProviderError(
        "local_diffusion", failure, message, status=status, retry_after=retry, provider_code=code
    )


class LocalDiffusionAdapter:
    kind: ClassVar[str] = "local_diffusion"
    options_type: ClassVar[type[LocalDiffusionOptions]] = LocalDiffusionOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(LocalDiffusionSettings, settings)
        self._client = client
        if (self._settings.username is None) != (self._settings.password is None):
            raise AdapterSettingsError("username and password must be given together", "password")
        check_base_url(
            provider,
            self._settings.base_url,
            allowed_hosts=None,
            allow_private=self._settings.allow_private_base_url,
        )
        self._comfy = comfyui.ComfyBackend.load(provider, self._settings, client) if self.is_comfy else None
        self._serial = asyncio.Lock()  # a1111 runs one job at a time; ours go one by one (progress is global)

    @property
    def is_comfy(self) -> bool:
        return self._settings.backend == "comfyui"

    def capabilities(self, provider_model: str) -> Capabilities:
        settings = self._settings
        return Capabilities(
            max_n=1 if self.is_comfy else settings.max_n,
            min_side=settings.min_side,
            max_side=settings.max_side,
            size_multiple=8,
            supports_seed=True,
            supports_negative_prompt=True,
            supports_steps=True,
            supports_guidance=True,
            formats=[OutputFormat.PNG],
            streaming=True,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """With `ctx.report`: ComfyUI relays progress + previews from its websocket; A1111 polls
        /sdapi/v1/progress while our txt2img runs (jobs serialised per server, so the global
        progress is ours)."""
        if self._comfy is not None:
            fields, warnings = self._comfy_inputs(req, ctx)
            return await self._comfy.generate(req, ctx, fields, warnings)
        async with self._serial:
            if ctx.report is None:
                return await self._txt2img(req, ctx)
            return await a1111_progress.follow(
                self._txt2img(req, ctx),
                self._progress,
                interval=self._settings.poll_interval_seconds,
                report=ctx.report,
                previews=self._settings.stream_previews,
            )

    def _comfy_inputs(self, req: ImageRequest, ctx: CallContext) -> tuple[dict[str, Any], list[str]]:
        if req.n != 1:
            raise ProviderError(self._provider, FailureClass.CALLER_FAULT, "comfyui makes one image per call")
        warnings: list[str] = []
        fields = common_fields(req, self._settings, warnings)
        fields |= sampler_fields(self._settings, decode_options(LocalDiffusionOptions, ctx.options))
        if req.style_preset is not None:
            warnings.append("style_preset: not supported by comfyui; dropped")
        return fields, warnings

    async def _progress(self) -> bytes:
        """One poll of the server-wide progress; failures are not errors (progress is advisory)."""
        try:
            response = await upstream.send(
                self._client,
                self._provider,
                "GET",
                self._settings.base_url.rstrip("/") + a1111_progress.PROGRESS_PATH,
                params=a1111_progress.PROGRESS_PARAMS,
                auth=self.basic_auth,
                timeout=max(1.0, self._settings.poll_interval_seconds * 4),
                what="progress",
            )
        except ProviderError:
            return b""
        return response.content if response.status_code == 200 else b""

    async def _txt2img(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        if req.n > self._settings.max_n:
            raise ProviderError(
                self._provider, FailureClass.CALLER_FAULT, f"at most {self._settings.max_n} per call"
            )
        body, warnings = encode_a1111(
            with_seed(req), model=ctx.provider_model, settings=self._settings, options=ctx.options
        )
        response = await upstream.send(
            self._client,
            self._provider,
            "POST",
            self._settings.base_url.rstrip("/") + "/sdapi/v1/txt2img",
            json=body,
            auth=self.basic_auth,
            timeout=min(
                self._settings.timeout_seconds, upstream.remaining_or_deadline(self._provider, ctx.deadline)
            ),
        )
        if response.status_code != 200:
            raise classify_a1111(response.status_code, response.headers, response.content)
        images, raw = decode_a1111(self._provider, upstream.decode_json(self._provider, response))
        return ProviderResult(images=images, raw=raw, warnings=warnings)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        settings = self._settings
        return (settings.username, settings.password) if settings.username and settings.password else None

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
