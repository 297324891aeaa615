"""OpenAI Images, pure: canonical request -> /images/generations body, its 200 -> image items,
HTTP errors -> `ProviderError`. No I/O (adapters/openai_images.py sends; adapters/openai_stream.py
reads the streamed variant); the translator signature is described in adapters/base.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import msgspec

from adapters import openai_profiles as profiles
from adapters.base import decode_options, dropped
from adapters.openai_profiles import FamilySpec, Profile
from gateway import sizing, upstream
from gateway.canonical import ImageRequest, OutputFormat, Quality
from gateway.errors import FailureClass, ProviderError

_UNSUPPORTED = (
    "negative_prompt", "seed", "guide_scale", "steps", "style_preset", "lora_strength", "enable_web_search"
)
Family = Literal["dall-e-2", "dall-e-3", "gpt-image", "gpt-image-2", "compatible"]


_Family = FamilySpec


class _Table(msgspec.Struct, frozen=True):
    prefixes: list[tuple[str, str]]
    families: dict[str, _Family]


# Per-model rules are data (they change monthly): adapters/openai_models.json.
_TABLE = msgspec.json.decode(Path(__file__).with_name("openai_models.json").read_bytes(), type=_Table)
FAMILIES = _TABLE.families
_DALLE3_QUALITY = {Quality.HIGH: "hd", Quality.MEDIUM: "standard", Quality.LOW: "standard"}


class OpenAISettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # An OpenAI-compatible dialect (adapters/openai_profiles.json): xai, recraft, seedream,
    # openrouter, vllm-omni, ollama, localai, sdcpp. None: OpenAI itself (or `family: compatible`).
    profile: Literal["xai", "recraft", "seedream", "openrouter", "vllm-omni", "ollama", "localai", "sdcpp"] | None = None
    base_url: str | None = None  # None: the profile's hosted default, else https://api.openai.com/v1
    api_key: str | None = None
    organization: str | None = None
    project: str | None = None
    auth_header: Literal["bearer", "api-key"] = "bearer"  # "api-key" for Azure OpenAI
    api_version: str | None = None  # Azure: sent as ?api-version=
    family: Family | None = None  # None: inferred from the model name
    max_n: int | None = None  # lower the family's images per call (servers that accept only n=1)
    timeout_seconds: float = 300.0
    download_hosts: list[str] = msgspec.field(default_factory=lambda: ["*.blob.core.windows.net"])
    max_download_bytes: int = 50 * 1024 * 1024
    partial_images: int = msgspec.field(default=2)  # gpt-image previews per streamed image (0..3)
    # OpenAI-compatible servers (LocalAI, relays) are often local, so http and private addresses
    # are accepted by default; false: base_url must be https on a public address (like flux).
    allow_private_base_url: bool = True


class OpenAIOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:` (GPT image models; other families ignore them with a warning)."""

    output_compression: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None  # jpeg/webp only
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["auto", "low"] | None = None  # a request's safe_mode: false sends "low"


_DEFAULTS = OpenAISettings()


def family_of(model: str, configured: str | None = None) -> str:
    if configured:
        return configured
    for prefix, family in _TABLE.prefixes:
        if model.startswith(prefix):
            return family
    return "compatible"


def limits_of(spec: _Family) -> sizing.FreeLimits:
    return spec.limits or sizing.FreeLimits()


def profile_of(settings: OpenAISettings) -> Profile | None:
    return profiles.PROFILES[settings.profile] if settings.profile else None


def spec_of(model: str, settings: OpenAISettings) -> _Family:
    """The size/count/prompt rules: the profile's, else the (configured or inferred) family's."""
    profile = profile_of(settings)
    return profile.family if profile is not None else FAMILIES[family_of(model, settings.family)]


def base_url_of(settings: OpenAISettings) -> str:
    profile = profile_of(settings)
    default = profile.base_url if profile is not None and profile.base_url else "https://api.openai.com/v1"
    return settings.base_url or default


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: OpenAISettings = _DEFAULTS,
    options: OpenAIOptions | Mapping[str, object] | None = None,
    family: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The JSON body for /images/generations and the warnings for what it could not carry.
    `family` (optional) is the one the caller already resolved; else `settings.family`, else
    inferred from `model`."""
    profile = profile_of(settings)
    if profile is not None:
        profiles.check_model(settings.profile or "", profile, model)
        family = "compatible"
    family = family or family_of(model, settings.family)
    spec = profile.family if profile is not None else FAMILIES[family]
    opts = _with_request_fields(decode_options(OpenAIOptions, options), req)
    warnings: list[str] = []
    if len(req.prompt) > spec.prompt_max:
        raise ProviderError(
            "openai",
            FailureClass.CALLER_FAULT,
            f"prompt is longer than {spec.prompt_max} characters for {model}",
        )
    if req.n > spec.max_n:
        raise ProviderError(
            "openai", FailureClass.CALLER_FAULT, f"{model} makes at most {spec.max_n} images per call"
        )
    body: dict[str, Any] = {"model": model, "prompt": req.prompt, "n": req.n}
    carried: set[str] = set()
    if profile is None:
        size = _size(req, spec, warnings)
        if size is not None:
            body["size"] = size
        if spec.url_responses:
            body["response_format"] = "b64_json"
    else:
        carried = _profile_fields(req, profile, spec, body, warnings)
    _quality(req, family, body, warnings)
    _style(req, family, body, warnings)
    if spec.native_formats:
        _gpt_image_fields(req, opts, body, warnings)
    elif opts != OpenAIOptions():
        warnings.append("options: output_compression/background/moderation apply to GPT image models only")
    if req.user is not None and (profile is None or profile.send_user):
        body["user"] = req.user
    elif req.user is not None:
        warnings.append("user: not supported by this server; dropped")
    unsupported = [name for name in _UNSUPPORTED if name not in carried]
    warnings.extend(dropped(req, unsupported, by=f"the {settings.profile} profile" if profile else "OpenAI Images"))
    if req.safe_mode is False and family not in ("gpt-image", "gpt-image-2"):
        warnings.append("safe_mode: not supported by OpenAI Images; dropped")
    return body, warnings


def _with_request_fields(opts: OpenAIOptions, req: ImageRequest) -> OpenAIOptions:
    """A /v1 request's own `background` / `output_compression` win over the deployment's options."""
    fields: dict[str, str | int] = req.openai_fields or {}
    asked: dict[str, object] = {n: fields[n] for n in ("background", "output_compression") if n in fields}
    if not asked:
        return opts
    merged: dict[str, object] = {**msgspec.structs.asdict(opts), **asked}
    return msgspec.convert(merged, OpenAIOptions)


def _size(req: ImageRequest, spec: _Family, warnings: list[str]) -> str | None:
    wanted = sizing.requested_size(req)
    if wanted is None:
        return None
    snapped = (
        sizing.snap_enumerated(wanted, spec.sizes, explicit=sizing.is_explicit(req))
        if spec.sizes
        else sizing.snap_free(wanted, limits_of(spec), explicit=sizing.is_explicit(req))
    )
    if snapped.warning:
        warnings.append(snapped.warning)
    return f"{snapped.width}x{snapped.height}"


def _profile_fields(
    req: ImageRequest, profile: Profile, spec: _Family, body: dict[str, Any], warnings: list[str]
) -> set[str]:
    """The dialect's size syntax, response format, extras, fixed fields and watermark switch."""
    if not profile.send_n:
        del body["n"]
    if profile.size == "aspect":
        profiles.aspect_size(req, profile, body, warnings)
    elif req.resolution is not None and profile.tiers and not (req.width or req.height or req.aspect_ratio):
        profiles.tier(req, profile, body, warnings)
    else:
        size = _size(req, spec, warnings)
        if size is not None:
            body["size"] = size
    if profile.response_format is not None:
        body["response_format"] = profile.response_format
    body.update(profile.fixed)
    profiles.watermark(req, profile, body)
    return profiles.extras(req, profile, body)


def _quality(req: ImageRequest, family: str, body: dict[str, Any], warnings: list[str]) -> None:
    if req.quality is None:
        return
    if family in ("gpt-image", "gpt-image-2"):
        body["quality"] = req.quality.value
    elif family == "dall-e-3":
        if req.quality is not Quality.AUTO:
            body["quality"] = _DALLE3_QUALITY[req.quality]
    elif req.quality is not Quality.AUTO:
        warnings.append(f"quality: {req.quality.value} is not supported by this model; dropped")


def _style(req: ImageRequest, family: str, body: dict[str, Any], warnings: list[str]) -> None:
    if req.style is None:
        return
    if family == "dall-e-3" and req.style in ("vivid", "natural"):
        body["style"] = req.style
    else:
        warnings.append(f"style: {req.style!r} is not supported by this model; dropped")


def _gpt_image_fields(
    req: ImageRequest, opts: OpenAIOptions, body: dict[str, Any], warnings: list[str]
) -> None:
    body["output_format"] = req.output_format.value
    if opts.output_compression is not None and req.output_format is not OutputFormat.PNG:
        body["output_compression"] = opts.output_compression
    if opts.background == "transparent" and req.output_format is OutputFormat.JPEG:
        # OpenAI answers 400: transparency needs png or webp. Keep the format the client asked for.
        warnings.append("background: transparent is not possible with output_format jpeg; dropped")
    elif opts.background is not None:
        body["background"] = opts.background
    if req.safe_mode is False:
        body["moderation"] = "low"
    elif opts.moderation is not None:
        body["moderation"] = opts.moderation


FilePart = tuple[str, tuple[str, bytes, str]]  # (form field, (file name, bytes, content type))
_EXTENSION = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def encode_edit(
    req: ImageRequest,
    *,
    model: str,
    settings: OpenAISettings = _DEFAULTS,
    options: OpenAIOptions | Mapping[str, object] | None = None,
    family: str | None = None,
) -> tuple[dict[str, str], list[FilePart], list[str]]:
    """The multipart /images/edits request: form fields, file parts, warnings. GPT image models get
    every input as an `image[]` part, others one `image` part; the mask (a PNG: the adapter converts
    it) goes as `mask`. No size asked: the base image's size, snapped to the model's sizes."""
    family = family or family_of(model, settings.family)
    spec = FAMILIES[family]
    if len(req.images) > spec.edit_max_images:
        what = "cannot edit images" if not spec.edit_max_images else f"edits at most {spec.edit_max_images} image(s)"
        raise ProviderError("openai", FailureClass.CALLER_FAULT, f"{model} {what}")
    base = req.images[0]
    sized = req if sizing.requested_size(req) else msgspec.structs.replace(req, width=base.width, height=base.height)
    body, warnings = encode_request(sized, model=model, settings=settings, options=options, family=family)
    if body.pop("moderation", None) is not None:
        warnings.append("moderation: not an /images/edits field; dropped")
    fields = {key: str(value) for key, value in body.items()}
    fidelity = (req.openai_fields or {}).get("input_fidelity")  # a /v1 edit's own field
    if fidelity is not None and spec.native_formats:
        fields["input_fidelity"] = str(fidelity)
    elif fidelity is not None:
        warnings.append(f"input_fidelity: not supported by {model}; dropped")
    name = "image[]" if spec.native_formats else "image"
    files: list[FilePart] = [
        (name, (f"image-{i}.{_EXTENSION[image.media_type]}", image.data, image.media_type))
        for i, image in enumerate(req.images)
    ]
    if req.mask is not None:
        if spec.edit_mask:
            files.append(("mask", ("mask.png", req.mask.data, req.mask.media_type)))
        else:
            warnings.append(f"mask: not supported by {model}; dropped")
    unused = {"strength": req.strength, "prompt_extend": req.prompt_extend, "watermark": req.watermark}
    warnings += [f"{key}: not supported by OpenAI image edits; dropped" for key, v in unused.items() if v is not None]
    return fields, files, warnings


class Item(msgspec.Struct, frozen=True):
    b64_json: str | None = None
    url: str | None = None


class _Images(msgspec.Struct, frozen=True):
    """A 200 from /images/generations (tests/fixtures/openai/generations_*.json)."""

    data: list[Item] = msgspec.field(default_factory=list)


def decode_response(provider: str, payload: object, *, empty_is_moderation: bool = False) -> list[Item]:
    """The success body's image items (each base64 or a URL to download); none is UPSTREAM_INVALID,
    or CONTENT_POLICY for a dialect that answers moderation with an empty list (xAI)."""
    message = "openai response is not an images list"
    items = upstream.decode_as(provider, payload, _Images, message=message).data
    if not items and empty_is_moderation:
        raise ProviderError(
            provider, FailureClass.CONTENT_POLICY, "no images returned (moderated)", status=200, provider_code="empty_data"
        )
    if not items:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "openai returned no images")
    return items


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """Status plus the parsed `error.code` / `error.type`; never the message text. Error bodies are
    best effort, field by field (compatible servers send numeric codes, proxies HTML), so they are
    probed, not decoded into a Struct that one odd field would reject whole."""
    parsed = upstream.parse_error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    failure = upstream.status_failure(status)
    if code in ("content_policy_violation", "moderation_blocked"):
        failure = FailureClass.CONTENT_POLICY
    elif "insufficient_quota" in (code, kind) or code == "billing_hard_limit_reached":
        failure = FailureClass.QUOTA
    detail = code or kind or "error"
    message = f"openai HTTP {status} ({detail})"
    if failure is FailureClass.CALLER_FAULT and isinstance(error.get("message"), str):
        message += ": " + upstream.redact(str(error["message"])[:300], [])
    return ProviderError(
        "openai",
        failure,
        message,
        status=status,
        retry_after=upstream.retry_hint(failure, headers),
        provider_code=code or kind,
        detail=upstream.provider_detail(body),  # operator log only (401/403/402/quota alerts)
    )
