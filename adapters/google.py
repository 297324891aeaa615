"""`google`: the Gemini API. Gemini image models ("Nano Banana") through
POST {base_url}/models/<model>:generateContent (one image per call: the gateway fans out), Imagen
through POST {base_url}/models/<model>:predict (sampleCount 1..4; filtered images are omitted, so a
call may return fewer). API-key auth (`x-goog-api-key`, sent only to `api_hosts`). Vertex AI
service-account tokens are not supported (docs/providers.md). Gemini models also edit (`edit`: the
input images as inlineData parts). The pure half: adapters/google_translate.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from adapters.base import check_base_url, decode_settings
from adapters.google_translate import (
    GoogleOptions,
    GoogleSettings,
    classify_error,
    decode_gemini,
    decode_imagen,
    encode_edit,
    encode_request,
    model_spec,
)
from gateway import upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, OutputFormat, ProviderResult

__all__ = ["GoogleAdapter", "GoogleOptions", "GoogleSettings", "classify_error", "encode_request", "model_spec"]

_TIER_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
_BLOB_KEYS = upstream.BLOB_KEYS | {"data"}


class GoogleAdapter:
    kind: ClassVar[str] = "google"
    options_type: ClassVar[type[GoogleOptions]] = GoogleOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(GoogleSettings, settings)
        self._client = client
        self._api_hosts = check_base_url(
            provider,
            self._settings.base_url,
            allowed_hosts=self._settings.api_hosts,
            allow_private=self._settings.allow_private_base_url,
        )

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = model_spec(provider_model)
        return Capabilities(
            max_n=spec.max_n,
            aspect_ratios=spec.aspect_ratios,
            min_side=256,
            max_side=max((_TIER_SIDE[t] for t in spec.image_sizes), default=1024),
            formats=[OutputFormat.PNG],
            edit=spec.max_input_images > 0,
            max_input_images=spec.max_input_images,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        body, warnings = encode_request(req, model=ctx.provider_model, settings=self._settings, options=ctx.options)
        return await self._call(body, warnings, ctx)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """Gemini edits: the prompt plus the input images as parts of one generateContent call."""
        body, warnings = encode_edit(req, model=ctx.provider_model, settings=self._settings, options=ctx.options)
        return await self._call(body, warnings, ctx)

    async def _call(self, body: dict[str, Any], warnings: list[str], ctx: CallContext) -> ProviderResult:
        spec = model_spec(ctx.provider_model)
        method = "predict" if spec.mode == "imagen" else "generateContent"
        url = f"{self._settings.base_url.rstrip('/')}/models/{ctx.provider_model}:{method}"
        upstream.check_url(
            self._provider, url, self._api_hosts, allow_http=self._settings.allow_private_base_url, what="base_url"
        )
        response = await upstream.send(
            self._client,
            self._provider,
            "POST",
            url,
            headers={"x-goog-api-key": self._settings.api_key} if self._settings.api_key else {},
            json=body,
            timeout=min(self._settings.timeout_seconds, upstream.remaining_or_deadline(self._provider, ctx.deadline)),
        )
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        payload = upstream.decode_json(self._provider, response)
        decode = decode_imagen if spec.mode == "imagen" else decode_gemini
        images = [upstream.base64_image(self._provider, data, what="image") for data in decode(self._provider, payload)]
        raw = upstream.raw_view(upstream.elide_base64(payload, _BLOB_KEYS))  # inlineData.data too
        return ProviderResult(images=images, raw=raw, warnings=warnings)

    async def aclose(self) -> None:
        return None
