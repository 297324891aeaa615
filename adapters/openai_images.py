"""`openai`: POST {base_url}/images/generations for dall-e-2, dall-e-3 and the GPT image models.

The same adapter serves OpenAI-compatible servers (LocalAI, relays: `family: compatible`) and
Azure-style deployments (`auth_header: api-key`, `api_version`). Per-model rules, the encoding and
the error classes are pure (adapters/openai_translate.py); docs/providers.md lists every canonical
field's fate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx
import msgspec

from adapters import openai_stream
from adapters.base import check_base_url, decode_settings, with_seed
from adapters.openai_translate import (
    FAMILIES,
    Item,
    OpenAIOptions,
    OpenAISettings,
    base_url_of,
    classify_error,
    decode_response,
    encode_edit,
    encode_request,
    family_of,
    limits_of,
    profile_of,
    spec_of,
)
from gateway import imaging, upstream
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    InputImage,
    OutputFormat,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError

__all__ = [
    "OpenAIAdapter",
    "OpenAIOptions",
    "OpenAISettings",
    "classify_error",
    "encode_request",
    "family_of",
]

_FAMILIES = FAMILIES  # the names tests read
_Item = Item
_ALL_FORMATS = [OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP]


class OpenAIAdapter:
    kind: ClassVar[str] = "openai"
    options_type: ClassVar[type[OpenAIOptions]] = OpenAIOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(OpenAISettings, settings)
        self._client = client
        self._profile = profile_of(self._settings)
        self._base_url = base_url_of(self._settings)
        check_base_url(
            provider,
            self._base_url,
            allowed_hosts=None,
            allow_private=self._settings.allow_private_base_url,
        )
        # The server itself may serve its results (LocalAI, relays); over http only if it is http.
        base = httpx.URL(self._base_url)
        profile_hosts = self._profile.download_hosts if self._profile else []
        self._download = upstream.DownloadPolicy(
            allowed_hosts=(*self._settings.download_hosts, *profile_hosts, base.host),
            allow_http=base.scheme == "http",
            max_bytes=self._settings.max_download_bytes,
        )

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = spec_of(provider_model, self._settings)
        limits = limits_of(spec)
        profile = self._profile
        extras = set(profile.extras) if profile else set()
        return Capabilities(
            max_n=min(self._settings.max_n or spec.max_n, spec.max_n),
            sizes=spec.sizes,
            aspect_ratios=profile.aspect_ratios if profile and profile.size == "aspect" else None,
            supports_seed="seed" in extras,
            supports_negative_prompt="negative_prompt" in extras or bool(profile and profile.negative_in_prompt),
            supports_steps="steps" in extras,
            supports_guidance="guide_scale" in extras,
            min_side=min(s[0] for s in spec.sizes) if spec.sizes else limits.min_side,
            max_side=max(max(s) for s in spec.sizes) if spec.sizes else limits.max_side,
            size_multiple=1 if spec.sizes else limits.multiple,
            formats=_ALL_FORMATS if spec.native_formats else [OutputFormat.PNG],
            streaming=spec.native_formats,
            stream_max_n=1 if spec.native_formats else None,  # "Streaming is only supported with n=1"
            edit=spec.edit_max_images > 0,
            max_input_images=spec.edit_max_images,
            edit_mask=spec.edit_mask,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """With `ctx.report`, gpt-image streams (`stream` + `partial_images`, one image per call)
        and reports its previews; other models, or n > 1, make the plain call."""
        seeded = self._profile is not None and "seed" in self._profile.extras
        if seeded:
            req = with_seed(req)  # reported back, so the image can be reproduced
        body, warnings = encode_request(
            req, model=ctx.provider_model, settings=self._settings, options=ctx.options
        )
        spec = spec_of(ctx.provider_model, self._settings)
        url, params, timeout = self._endpoint(ctx)
        if ctx.report is not None and spec.native_formats and req.n == 1:
            body |= {"stream": True, "partial_images": max(0, min(3, self._settings.partial_images))}
            request = self._client.build_request(
                "POST",
                url,
                content=msgspec.json.encode(body),
                headers={
                    "content-type": "application/json",
                    "accept": "text/event-stream",
                    **self._headers(),
                },
                params=params,
                timeout=timeout,
            )
            return await openai_stream.stream_image(
                self._client, self._provider, request, classify_error, warnings, ctx.report
            )
        response = await upstream.send(
            self._client,
            self._provider,
            "POST",
            url,
            headers=self._headers(),
            params=params,
            json=body,
            timeout=timeout,
        )
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        payload = upstream.decode_json(self._provider, response, blob_key="b64_json")
        moderated = bool(self._profile and self._profile.empty_is_moderation)
        items = decode_response(self._provider, payload, empty_is_moderation=moderated)
        images = [await self._image(item) for item in items]
        if seeded and len(images) == 1:
            images = [msgspec.structs.replace(images[0], seed=req.seed)]
        return ProviderResult(images=images, raw=upstream.raw_view(payload), warnings=warnings)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """POST /images/edits, multipart (adapters/openai_translate.py `encode_edit`). The mask is
        sent as a PNG (converted if it came as JPEG/WebP), and so is dall-e-2's base image."""
        family = family_of(ctx.provider_model, self._settings.family)
        converted: list[str] = []
        mask = req.mask
        if mask is not None and mask.media_type != "image/png":
            mask = await _as_png(mask)
            converted.append("mask: converted to PNG for OpenAI")
        images = req.images
        if not FAMILIES[family].native_formats and images[0].media_type != "image/png":
            images = (await _as_png(images[0]), *images[1:])
            converted.append(f"images[0]: converted to PNG for {ctx.provider_model}")
        req = msgspec.structs.replace(req, images=images, mask=mask)
        fields, files, warnings = encode_edit(
            req, model=ctx.provider_model, settings=self._settings, options=ctx.options, family=family
        )
        url, params, timeout = self._endpoint(ctx, "/images/edits")
        if ctx.report is not None and FAMILIES[family].native_formats and req.n == 1:
            # Streamed like generate: previews as `image_edit.partial_image` events.
            stream = {"stream": "true", "partial_images": str(max(0, min(3, self._settings.partial_images)))}
            request = self._client.build_request(
                "POST",
                url,
                files=files,
                data=fields | stream,
                headers={"accept": "text/event-stream", **self._headers()},
                params=params,
                timeout=timeout,
            )
            return await openai_stream.stream_image(
                self._client, self._provider, request, classify_error, converted + warnings, ctx.report
            )
        response = await upstream.send(
            self._client,
            self._provider,
            "POST",
            url,
            headers=self._headers(),
            params=params,
            files=files,
            data=fields,
            timeout=timeout,
        )
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        payload = upstream.decode_json(self._provider, response, blob_key="b64_json")
        results = [await self._image(item) for item in decode_response(self._provider, payload)]
        return ProviderResult(images=results, raw=upstream.raw_view(payload), warnings=converted + warnings)

    async def aclose(self) -> None:
        return None

    def _endpoint(
        self, ctx: CallContext, path: str = "/images/generations"
    ) -> tuple[str, dict[str, str] | None, float]:
        """URL, query (Azure's api-version) and timeout (within the deadline) of a call to `path`."""
        version = self._settings.api_version
        params = {"api-version": version} if version else None
        left = upstream.remaining_or_deadline(self._provider, ctx.deadline)
        timeout = min(self._settings.timeout_seconds, left)
        if self._profile is not None and path == "/images/generations":
            path = self._profile.path  # the dialect's generation route (OpenRouter: /images)
        return self._base_url.rstrip("/") + path, params, timeout

    def _headers(self) -> dict[str, str]:
        settings = self._settings
        headers: dict[str, str] = {}
        if settings.api_key:
            if settings.auth_header == "api-key":
                headers["api-key"] = settings.api_key
            else:
                headers["authorization"] = f"Bearer {settings.api_key}"
        if settings.organization:
            headers["openai-organization"] = settings.organization
        if settings.project:
            headers["openai-project"] = settings.project
        return headers

    async def _image(self, item: Item) -> ProviderImage:
        if item.b64_json is not None:
            # Kept as base64 text: decoded only if the gateway has to transcode (no decode/re-encode).
            return upstream.base64_image(self._provider, item.b64_json, what="b64_json")
        if item.url is not None:
            blob = await upstream.download(self._client, self._provider, item.url, self._download)
            return ProviderImage(data=upstream.require_image(self._provider, blob), seed=None)
        raise ProviderError(
            self._provider, FailureClass.UPSTREAM_INVALID, "openai image has neither b64_json nor url"
        )


async def _as_png(image: InputImage) -> InputImage:
    """The input re-encoded as PNG (alpha kept), in the bounded image pool."""
    data, info = await imaging.off_loop(imaging.finish, image.data, OutputFormat.PNG)
    return InputImage(data=data, media_type="image/png", width=info.width, height=info.height)
