"""Stability AI v2beta, pure: canonical request -> the multipart form fields of
/v2beta/stable-image/generate/{ultra,core,sd3}, its 200 (image bytes with `seed` / `finish-reason`
headers, or JSON `{image, finish_reason, seed}`) -> one image, HTTP errors -> `ProviderError`. No
I/O (adapters/stability.py sends); the translator signature is described in adapters/base.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import httpx
import msgspec

from adapters.base import MAX_SEED as WIRE_MAX_SEED
from adapters.base import NoOptions, dropped
from gateway import sizing, upstream
from gateway.canonical import ImageRequest, Quality
from gateway.errors import FailureClass, ProviderError

_UNSUPPORTED = ("steps", "style", "lora_strength", "enable_web_search", "user")
MAX_SEED = 4_294_967_294


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    endpoint: Literal["ultra", "core", "sd3"]
    source: str = ""
    max_side: int = 1536
    style_preset: bool = False
    cfg: tuple[float, float] | None = None  # cfg_scale range (sd3 only)


class _Table(msgspec.Struct, frozen=True):
    aspect_ratios: list[tuple[int, int]]
    style_presets: list[str]
    models: dict[str, _Model]


# Per-model rules are data: adapters/stability_models.json.
_TABLE = msgspec.json.decode(Path(__file__).with_name("stability_models.json").read_bytes(), type=_Table)
ASPECTS, PRESETS, MODELS = _TABLE.aspect_ratios, _TABLE.style_presets, _TABLE.models


class StabilitySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str = "https://api.stability.ai"
    api_key: str | None = None  # Authorization: Bearer
    api_hosts: list[str] = msgspec.field(default_factory=lambda: ["api.stability.ai"])
    accept: Literal["image", "json"] = "image"  # Accept: image/* (raw bytes) or application/json (base64)
    timeout_seconds: float = 120.0
    allow_private_base_url: bool = False


_DEFAULTS = StabilitySettings()


def model_spec(model: str) -> _Model:
    return MODELS.get(model, MODELS["core"])


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: StabilitySettings = _DEFAULTS,
    options: NoOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The form fields (all text) and the warnings for what they could not carry."""
    if req.n != 1:
        raise ProviderError("stability", FailureClass.CALLER_FAULT, "Stability makes one image per call")
    spec = model_spec(model)
    warnings: list[str] = []
    form: dict[str, str] = {"prompt": req.prompt, "output_format": req.output_format.value}
    if spec.endpoint == "sd3":
        form |= {"model": model, "mode": "text-to-image"}
    if req.negative_prompt is not None:
        form["negative_prompt"] = req.negative_prompt
    if req.seed is not None:  # the adapter always fills it in first (`with_seed`)
        form["seed"] = str(min(max(req.seed, 0), MAX_SEED))
    _size(req, form, warnings)
    if req.style_preset is not None:
        if spec.style_preset and req.style_preset in PRESETS:
            form["style_preset"] = req.style_preset
        else:
            warnings.append(f"style_preset: {req.style_preset!r} is not supported by this model; dropped")
    if req.guide_scale is not None:
        if spec.cfg is not None:
            cfg, warning = sizing.clamp("guide_scale", req.guide_scale, *spec.cfg)
            form["cfg_scale"] = f"{cfg:g}"
            warnings.extend([warning] if warning else [])
        else:
            warnings.append("guide_scale: not supported by this model; dropped")
    if req.quality is not None and req.quality is not Quality.AUTO:
        warnings.append(f"quality: {req.quality.value} is not supported by Stability; dropped")
    if req.safe_mode is False:
        warnings.append("safe_mode: false is not supported by Stability; dropped")
    warnings.extend(dropped(req, _UNSUPPORTED, by="Stability"))
    return form, warnings


def _size(req: ImageRequest, form: dict[str, str], warnings: list[str]) -> None:
    wanted = sizing.requested_size(req)
    if wanted is None:
        return
    ratio, warning = sizing.nearest_aspect(wanted, ASPECTS, asked=req.aspect_ratio)
    form["aspect_ratio"] = f"{ratio[0]}:{ratio[1]}"
    if warning:
        warnings.append(warning)
    if req.width or req.height or (req.resolution is not None and req.resolution.value != "1K"):
        warnings.append("size: Stability takes an aspect ratio only; width/height/resolution not sent")


class Generated(msgspec.Struct, frozen=True):
    """The JSON 200 (tests/fixtures/stability/generate_core_json_200.json)."""

    image: str | None = None
    finish_reason: str | None = None
    seed: int | None = None


def check_finish(provider: str, finish_reason: str | None) -> None:
    """CONTENT_FILTERED comes back as a 200 with a blurred image: a content-policy refusal."""
    if finish_reason == "CONTENT_FILTERED":
        raise ProviderError(
            provider, FailureClass.CONTENT_POLICY, "stability: content filtered", status=200, provider_code=finish_reason
        )
    if finish_reason not in (None, "SUCCESS"):
        raise ProviderError(
            provider, FailureClass.UPSTREAM_INVALID, f"stability: finish_reason {finish_reason}", status=200,
            provider_code=finish_reason,
        )


def decode_response(provider: str, payload: object) -> Generated:
    """A JSON answer with its image (base64), or the refusal / UPSTREAM_INVALID."""
    answer = upstream.decode_as(provider, payload, Generated, message="stability response is not an image answer")
    check_finish(provider, answer.finish_reason)
    if not answer.image:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "stability returned no image", status=200)
    return answer


def reported_seed(reported: int | str | None, sent: int | None) -> int | None:
    """The seed Stability reports (`seed` header or field) when it fits the wire's range, else the one sent."""
    value = int(reported) if isinstance(reported, int) or (isinstance(reported, str) and reported.isdigit()) else None
    return value if value is not None and value <= WIRE_MAX_SEED else sent


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """`{id, name, errors[]}`: `content_moderation` (403) is a refusal; the rest by status."""
    parsed = upstream.parse_error_body(body)
    name = parsed.get("name") if isinstance(parsed, dict) and isinstance(parsed.get("name"), str) else None
    failure = upstream.status_failure(status)
    if name == "content_moderation":
        failure = FailureClass.CONTENT_POLICY
    elif name == "payment_required" or (status == 402):
        failure = FailureClass.QUOTA
    return ProviderError(
        "stability",
        failure,
        f"stability HTTP {status}" + (f" ({name})" if name else ""),
        status=status,
        retry_after=upstream.retry_hint(failure, headers),
        provider_code=name,
        detail=upstream.provider_detail(body),
    )
