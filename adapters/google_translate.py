"""Google (Gemini API), pure: canonical request -> `generateContent` body (Gemini image models) or
`predict` body (Imagen), their 200s -> base64 images, HTTP errors -> `ProviderError`. No I/O
(adapters/google.py sends); the translator signature is described in adapters/base.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec

from adapters.base import decode_options, dropped
from gateway import sizing, upstream
from gateway.b64 import b64encode
from gateway.canonical import ImageRequest, Quality
from gateway.errors import FailureClass, ProviderError

_UNSUPPORTED = ("negative_prompt", "seed", "guide_scale", "steps", "style", "style_preset", "lora_strength", "user")
# finishReason / blockReason values that mean "refused": content_policy (never retried, never fallen back).
_REFUSED = frozenset(
    {"IMAGE_SAFETY", "SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_PROHIBITED_CONTENT",
     "IMAGE_RECITATION", "RECITATION", "NO_IMAGE", "STOP", "OTHER_BLOCKED"}
)
_TIERS = ("1K", "2K", "4K")


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["gemini", "imagen"]
    aspect_ratios: list[tuple[int, int]]
    source: str = ""
    max_n: int = 1  # Gemini: one image per call (fanned out); Imagen: sampleCount 1..4
    image_sizes: list[str] = msgspec.field(default_factory=list)  # [] : no imageSize (fixed ~1K)
    search: bool = False  # Google Search grounding (`tools: [{google_search: {}}]`)
    max_input_images: int = 0  # edits: input images sent as inlineData parts (0: no edit)


class _Table(msgspec.Struct, frozen=True):
    models: dict[str, _Model]


# Per-model rules are data: adapters/google_models.json.
MODELS = msgspec.json.decode(Path(__file__).with_name("google_models.json").read_bytes(), type=_Table).models


class GoogleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    api_key: str | None = None  # sent as x-goog-api-key
    api_hosts: list[str] = msgspec.field(default_factory=lambda: ["generativelanguage.googleapis.com"])
    timeout_seconds: float = 120.0
    allow_private_base_url: bool = False  # a relay or a local test server


class GoogleOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:` (Imagen only; Gemini models ignore it with a warning)."""

    person_generation: Literal["dont_allow", "allow_adult", "allow_all"] | None = None


_DEFAULTS = GoogleSettings()


def model_spec(model: str) -> _Model:
    """The model's rules; unknown names take the nearest family's (imagen-* or Gemini)."""
    if model in MODELS:
        return MODELS[model]
    return MODELS["imagen-4.0-generate-001" if model.startswith("imagen") else "gemini-2.5-flash-image"]


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: GoogleSettings = _DEFAULTS,
    options: GoogleOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The `generateContent` or `predict` body and the warnings for what it could not carry."""
    spec, opts = model_spec(model), decode_options(GoogleOptions, options)
    if req.n > spec.max_n:
        raise ProviderError("google", FailureClass.CALLER_FAULT, f"{model} makes at most {spec.max_n} images per call")
    warnings: list[str] = []
    image: dict[str, Any] = {}
    _size(req, spec, image, warnings)
    if req.quality is not None and req.quality is not Quality.AUTO:
        warnings.append(f"quality: {req.quality.value} is not supported by Google image models; dropped")
    if req.safe_mode is False:
        warnings.append("safe_mode: false is not supported by Google image models; dropped")
    warnings.extend(dropped(req, _UNSUPPORTED, by="Google image models"))
    if spec.mode == "imagen":
        parameters: dict[str, Any] = {"sampleCount": req.n, **image}
        if opts.person_generation is not None:
            parameters["personGeneration"] = opts.person_generation
        if req.enable_web_search:
            warnings.append("enable_web_search: not supported by Imagen; dropped")
        return {"instances": [{"prompt": req.prompt}], "parameters": parameters}, warnings
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if image:
        config["imageConfig"] = image
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": req.prompt}]}], "generationConfig": config}
    if req.enable_web_search and spec.search:
        body["tools"] = [{"google_search": {}}]
    elif req.enable_web_search:
        warnings.append("enable_web_search: not supported by this model; dropped")
    if opts != GoogleOptions():
        warnings.append("options: person_generation applies to Imagen models only")
    return body, warnings


def encode_edit(
    req: ImageRequest,
    *,
    model: str,
    settings: GoogleSettings = _DEFAULTS,
    options: GoogleOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """A Gemini edit: the generate body with the input images (base first, then references) as
    `inlineData` parts after the text. No mask, no strength: those are warned."""
    spec = model_spec(model)
    if spec.mode != "gemini" or len(req.images) > spec.max_input_images:
        raise ProviderError(
            "google", FailureClass.CALLER_FAULT, f"{model} edits at most {spec.max_input_images} input images"
        )
    body, warnings = encode_request(req, model=model, settings=settings, options=options)
    parts = body["contents"][0]["parts"]
    parts.extend(
        {"inlineData": {"mimeType": image.media_type, "data": b64encode(image.data)}}
        for image in req.images
    )
    if req.mask is not None:
        warnings.append("mask: not supported by Gemini edits; dropped (the prompt says what to change)")
    if req.strength is not None:
        warnings.append("strength: not supported by Gemini edits; dropped")
    if req.prompt_extend:
        warnings.append("prompt_extend: not supported by Gemini edits; dropped")
    if req.watermark is False:
        warnings.append("watermark: Google always embeds its SynthID watermark; false not honoured")
    return body, warnings


def _size(req: ImageRequest, spec: _Model, image: dict[str, Any], warnings: list[str]) -> None:
    """aspectRatio (nearest allowed) and imageSize (the tier: the resolution, or the long side)."""
    wanted = sizing.requested_size(req)
    if wanted is None:
        return
    ratio, warning = sizing.nearest_aspect(wanted, spec.aspect_ratios, asked=req.aspect_ratio)
    image["aspectRatio"] = f"{ratio[0]}:{ratio[1]}"
    if warning:
        warnings.append(warning)
    if req.width or req.height:
        warnings.append("size: Google takes an aspect ratio and a size tier; width/height not sent")
    asked = req.resolution.value if req.resolution is not None else None
    if asked is None and req.width and req.height:
        long_side = max(req.width, req.height)
        asked = "1K" if long_side <= 1024 else "2K" if long_side <= 2048 else "4K"
    if asked is None:
        return
    if asked in spec.image_sizes:
        image["imageSize"] = asked
    elif spec.image_sizes:
        lower = [t for t in spec.image_sizes if _TIERS.index(t) <= _TIERS.index(asked)] or spec.image_sizes[:1]
        image["imageSize"] = lower[-1]
        warnings.append(f"resolution: {asked} is not offered by this model; used {lower[-1]}")
    elif asked != "1K":
        warnings.append(f"resolution: {asked} is not offered by this model (about 1K); dropped")


class _Inline(msgspec.Struct, frozen=True):
    mimeType: str = ""
    data: str = ""


class _Part(msgspec.Struct, frozen=True):
    text: str | None = None
    inlineData: _Inline | None = None


class _Content(msgspec.Struct, frozen=True):
    parts: list[_Part] = msgspec.field(default_factory=list)


class _Candidate(msgspec.Struct, frozen=True):
    content: _Content | None = None
    finishReason: str | None = None


class _Feedback(msgspec.Struct, frozen=True):
    blockReason: str | None = None


class _Generated(msgspec.Struct, frozen=True):
    """A generateContent 200 (tests/fixtures/google/gemini_image_generatecontent_200.json)."""

    candidates: list[_Candidate] = msgspec.field(default_factory=list)
    promptFeedback: _Feedback | None = None


class _Prediction(msgspec.Struct, frozen=True):
    bytesBase64Encoded: str | None = None
    mimeType: str | None = None
    raiFilteredReason: str | None = None


class _Predicted(msgspec.Struct, frozen=True):
    """An Imagen predict 200 (tests/fixtures/google/imagen_predict_200.json); `{}` when all filtered."""

    predictions: list[_Prediction] = msgspec.field(default_factory=list)


def _refused(provider: str, reason: str) -> ProviderError:
    return ProviderError(
        provider, FailureClass.CONTENT_POLICY, f"google: no image ({reason})", status=200, provider_code=reason
    )


def decode_gemini(provider: str, payload: object) -> list[str]:
    """The base64 images of a generateContent answer. No image: a refusal (IMAGE_SAFETY, a blocked
    prompt, a text-only answer) is CONTENT_POLICY; no candidates at all, or another finish reason
    (MAX_TOKENS, OTHER), is UPSTREAM_INVALID."""
    answer = upstream.decode_as(provider, payload, _Generated, message="google response is not a generateContent answer")
    images = [
        part.inlineData.data
        for candidate in answer.candidates
        for part in (candidate.content.parts if candidate.content else [])
        if part.inlineData is not None and part.inlineData.data
    ]
    if images:
        return images
    if answer.promptFeedback is not None and answer.promptFeedback.blockReason:
        raise _refused(provider, answer.promptFeedback.blockReason)
    if answer.candidates:
        reason = answer.candidates[0].finishReason or "NO_IMAGE"
        if reason in _REFUSED:
            raise _refused(provider, reason)
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"google: no image ({reason})", status=200, provider_code=reason)
    raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "google returned no candidates", status=200)


def decode_imagen(provider: str, payload: object) -> list[str]:
    """The base64 images of a predict answer. Filtered images are omitted by Google (fewer than
    asked: the gateway's fewer-images rule); none left is CONTENT_POLICY. A prediction with neither
    bytes nor a filter reason is UPSTREAM_INVALID."""
    answer = upstream.decode_as(provider, payload, _Predicted, message="google response is not a predict answer")
    images: list[str] = []
    for prediction in answer.predictions:
        if prediction.bytesBase64Encoded:
            images.append(prediction.bytesBase64Encoded)
        elif prediction.raiFilteredReason is None:
            raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "google prediction without image bytes", status=200)
    if not images:
        reasons = [p.raiFilteredReason for p in answer.predictions if p.raiFilteredReason]
        raise _refused(provider, "filtered" if not reasons else "rai_filtered")
    return images


_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """`{"error": {code, message, status, details[]}}` (google.rpc.Status): the status name and
    details' `reason` (API_KEY_INVALID is a 400), RetryInfo's `retryDelay`, daily QuotaFailure."""
    parsed = upstream.parse_error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    error = error if isinstance(error, dict) else {}
    name = error.get("status") if isinstance(error.get("status"), str) else None
    details = [d for d in error.get("details", []) if isinstance(d, dict)] if isinstance(error.get("details"), list) else []
    reasons = {d.get("reason") for d in details if isinstance(d.get("reason"), str)}
    delay: float | None = None
    daily = False
    for detail in details:
        match = _DELAY.match(str(detail.get("retryDelay", "")))
        delay = float(match.group(1)) if match else delay
        violations = detail.get("violations")
        if isinstance(violations, list):
            daily |= any("PerDay" in str(v.get("quotaId", "")) for v in violations if isinstance(v, dict))
    failure = upstream.status_failure(status)
    if "API_KEY_INVALID" in reasons or name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        failure = FailureClass.CREDENTIAL
    elif status == 429 and daily:
        failure = FailureClass.QUOTA
    elif name == "FAILED_PRECONDITION":  # billing or region not enabled for this key: another deployment may serve
        failure = FailureClass.MODEL_UNAVAILABLE
    code = next(iter(sorted(r for r in reasons if r)), None) or name
    return ProviderError(
        "google",
        failure,
        f"google HTTP {status}" + (f" ({code})" if code else ""),
        status=status,
        retry_after=upstream.retry_hint(failure, headers, delay),
        provider_code=code,
        detail=upstream.provider_detail(body),
    )
