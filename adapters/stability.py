"""`stability`: Stability AI v2beta. POST {base_url}/v2beta/stable-image/generate/{ultra,core,sd3}
as multipart/form-data, `Accept: image/*` (raw bytes; `seed` and `finish-reason` in the response
headers) or `application/json` (`{image, finish_reason, seed}`), one image per call. A 200 with
`CONTENT_FILTERED` (a blurred image) is a content-policy refusal. The pure half:
adapters/stability_translate.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx

from adapters.base import NoOptions, check_base_url, decode_settings, with_seed
from adapters.stability_translate import (
    ASPECTS,
    StabilitySettings,
    check_finish,
    classify_error,
    decode_response,
    encode_request,
    model_spec,
    reported_seed,
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

__all__ = ["StabilityAdapter", "StabilitySettings", "classify_error", "encode_request", "model_spec"]

# httpx encodes a form as multipart only when there is a file part; Stability wants multipart.
_NO_FILE = {"none": ("", b"", "application/octet-stream")}


class StabilityAdapter:
    kind: ClassVar[str] = "stability"
    options_type: ClassVar[type[NoOptions]] = NoOptions

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(StabilitySettings, settings)
        self._client = client
        check_base_url(
            provider,
            self._settings.base_url,
            allowed_hosts=self._settings.api_hosts,
            allow_private=self._settings.allow_private_base_url,
        )

    def capabilities(self, provider_model: str) -> Capabilities:
        spec = model_spec(provider_model)
        return Capabilities(
            max_n=1,
            aspect_ratios=ASPECTS,
            min_side=512,
            max_side=spec.max_side,
            supports_seed=True,
            supports_negative_prompt=True,
            supports_guidance=spec.cfg is not None,
            formats=[OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP],
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        req = with_seed(req)
        form, warnings = encode_request(req, model=ctx.provider_model, settings=self._settings, options=ctx.options)
        spec = model_spec(ctx.provider_model)
        url = f"{self._settings.base_url.rstrip('/')}/v2beta/stable-image/generate/{spec.endpoint}"
        headers = {"accept": "image/*" if self._settings.accept == "image" else "application/json"}
        if self._settings.api_key:
            headers["authorization"] = f"Bearer {self._settings.api_key}"
        response = await upstream.send(
            self._client,
            self._provider,
            "POST",
            url,
            headers=headers,
            files=_NO_FILE,
            data=form,
            timeout=min(self._settings.timeout_seconds, upstream.remaining_or_deadline(self._provider, ctx.deadline)),
        )
        if response.status_code != 200:
            raise classify_error(response.status_code, response.headers, response.content)
        if response.headers.get("content-type", "").startswith("application/json"):
            payload = upstream.decode_json(self._provider, response)
            answer = decode_response(self._provider, payload)
            assert answer.image is not None  # decode_response refuses an answer without one
            image = upstream.base64_image(self._provider, answer.image, seed=reported_seed(answer.seed, req.seed))
            return ProviderResult(images=[image], raw=upstream.raw_view(payload), warnings=warnings)
        check_finish(self._provider, response.headers.get("finish-reason"))
        data = upstream.require_image(self._provider, response.content)
        raw: dict[str, object] = {
            "finish_reason": response.headers.get("finish-reason"),
            "seed": response.headers.get("seed"),
            "content_type": response.headers.get("content-type"),
        }
        seed = reported_seed(response.headers.get("seed"), req.seed)
        return ProviderResult(images=[ProviderImage(data=data, seed=seed)], raw=raw, warnings=warnings)

    async def aclose(self) -> None:
        return None
