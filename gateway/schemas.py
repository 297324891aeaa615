"""Wire types of the public API (spec/image-generate.md), as msgspec Structs.

Decoding is strict: unknown fields, wrong types and out-of-range values are rejected. Bounds that
depend on operator settings (prompt length, steps, metadata size) are checked in `to_canonical`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Protocol

import msgspec
from msgspec import Meta

from gateway.canonical import ImageRequest, OutputFormat, OutputType, Quality, Resolution
from gateway.errors import InvalidRequest

MAX_SEED = 2_147_483_647
MIN_SIDE, MAX_SIDE = 64, 8192
MAX_METADATA_BYTES = 4096

PixelsText = Annotated[
    str, Meta(pattern=r"^[0-9]{1,5}$", description="pixels as a string of digits, 64..8192")
]
PixelsInt = Annotated[int, Meta(ge=MIN_SIDE, le=MAX_SIDE)]


class RequestBounds(Protocol):
    """The operator's bounds on a request (the routing file's `server:` section satisfies it); plain
    numbers, so the wire types do not depend on operator config."""

    @property
    def max_prompt_chars(self) -> int: ...

    @property
    def max_steps(self) -> int: ...


class GenerateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of POST /api/v1/image/generate."""

    model: Annotated[str, Meta(min_length=1, max_length=128, description="canonical model slug or alias")]
    prompt: Annotated[
        str,
        Meta(min_length=1, description="non-empty after trimming; max length configurable (default 32000)"),
    ]
    negative_prompt: Annotated[str, Meta(max_length=32000)] | None = None
    n: Annotated[int, Meta(ge=1, le=10)] = 1
    width: PixelsText | PixelsInt | None = None
    height: PixelsText | PixelsInt | None = None
    aspect_ratio: (
        Annotated[str, Meta(pattern=r"^[1-9][0-9]{0,4}:[1-9][0-9]{0,4}$", examples=["16:9"])] | None
    ) = None
    style: Annotated[str, Meta(max_length=256)] | None = None
    quality: Quality | None = None
    output_format: OutputFormat = OutputFormat.PNG
    output_type: OutputType = OutputType.DATA_URL
    seed: Annotated[int, Meta(ge=-1, le=MAX_SEED, description="-1 = nondeterministic")] | None = None
    guide_scale: Annotated[float, Meta(ge=0.0, le=50.0)] | None = None
    stream: bool = False
    steps: Annotated[int, Meta(ge=1, description="upper bound configurable (default 150)")] | None = None
    style_preset: Annotated[str, Meta(max_length=128)] | None = None
    resolution: Resolution | None = None
    hide_watermark: bool | None = None
    lora_strength: Annotated[int, Meta(ge=0, le=100)] | None = None
    safe_mode: bool | None = None
    embed_exif_metadata: bool = False
    enable_web_search: bool | None = None
    user: Annotated[str, Meta(max_length=256)] | None = None
    metadata: (
        Annotated[dict[str, Any], Meta(description="free-form; JSON encoding at most 4096 bytes")] | None
    ) = None
    # Async jobs (spec/jobs.md): POSTed to when the job ends; needs `Prefer: respond-async`.
    webhook_url: Annotated[str, Meta(max_length=2048, description="https; async jobs only")] | None = None

    def to_canonical(self, limits: RequestBounds) -> ImageRequest:
        """Apply the rules msgspec cannot express; raise InvalidRequest naming the field."""
        prompt = self.prompt.strip()
        if not prompt:
            raise InvalidRequest("prompt must not be empty", param="prompt")
        if len(self.prompt) > limits.max_prompt_chars:
            raise InvalidRequest(
                f"prompt is longer than {limits.max_prompt_chars} characters", param="prompt"
            )
        if self.steps is not None and self.steps > limits.max_steps:
            raise InvalidRequest(f"steps must be at most {limits.max_steps}", param="steps")
        if self.metadata is not None and len(msgspec.json.encode(self.metadata)) > MAX_METADATA_BYTES:
            raise InvalidRequest(
                f"metadata must encode to at most {MAX_METADATA_BYTES} bytes of JSON", param="metadata"
            )
        if self.output_type is OutputType.FILE and self.n != 1:
            raise InvalidRequest("output_type 'file' requires n = 1", param="output_type")
        if self.output_type is OutputType.FILE and self.stream:
            raise InvalidRequest("stream cannot be combined with output_type 'file'", param="stream")
        if self.output_type is OutputType.URL and self.stream:
            raise InvalidRequest("stream cannot be combined with output_type 'url' (use an async job)", param="stream")
        aspect = None
        if self.aspect_ratio is not None:
            w, h = self.aspect_ratio.split(":")
            aspect = (int(w), int(h))
        return ImageRequest(
            model=self.model,
            prompt=self.prompt,
            n=self.n,
            negative_prompt=self.negative_prompt,
            width=_pixels(self.width, "width"),
            height=_pixels(self.height, "height"),
            aspect_ratio=aspect,
            style=self.style,
            quality=self.quality,
            output_format=self.output_format,
            output_type=self.output_type,
            seed=None if self.seed is None or self.seed == -1 else self.seed,
            guide_scale=self.guide_scale,
            stream=self.stream,
            steps=self.steps,
            style_preset=self.style_preset,
            resolution=self.resolution,
            hide_watermark=self.hide_watermark,
            lora_strength=self.lora_strength,
            safe_mode=self.safe_mode,
            embed_exif_metadata=self.embed_exif_metadata,
            enable_web_search=self.enable_web_search,
            user=self.user,
            metadata=self.metadata,
        )


def _pixels(value: str | int | None, field: str) -> int | None:
    if value is None:
        return None
    pixels = int(value)
    if not MIN_SIDE <= pixels <= MAX_SIDE:
        raise InvalidRequest(f"{field} must be between {MIN_SIDE} and {MAX_SIDE} pixels", param=field)
    return pixels


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    message: str
    param: str | None = None


class ErrorResponse(msgspec.Struct, frozen=True, kw_only=True):
    error: ErrorDetail


class ImageObject(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One image: `data_url` (output_type data_url) or `url` (output_type url, a signed expiring link)."""

    index: int
    data_url: str | None = None
    url: str | None = None
    width: int
    height: int
    format: OutputFormat
    seed: int | None


class Attempt(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One upstream attempt: which deployment, for which shard, and how it ended."""

    deployment: str
    provider: str
    model: str
    shard: int
    outcome: str  # "ok" or a FailureClass value
    status: int | None = None
    latency_ms: float = 0.0
    message: str | None = None


class CallCostInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One provider call's charge (docs/cost.md)."""

    deployment: str
    provider: str
    model: str
    shard: int
    outcome: str
    usd: str  # decimal string, 6 places
    basis: Literal["table", "provider_reported", "none"]


class CostInfo(msgspec.Struct, frozen=True, kw_only=True):
    """`provider_metadata.cost`: the request's cost (sum of its calls), USD as a decimal string."""

    usd: str
    basis: Literal["table", "provider_reported", "none"]
    calls: list[CallCostInfo]


class ProviderMetadata(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    model: str
    raw: dict[str, Any]
    attempts: list[Attempt]
    warnings: list[str]
    cost: CostInfo = msgspec.field(default_factory=lambda: CostInfo(usd="0.000000", basis="none", calls=[]))


class InputImageSize(msgspec.Struct, frozen=True, kw_only=True):
    width: int
    height: int


class GenerateResponse(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    created: int
    status: Literal["completed", "partial"]
    images: list[ImageObject]
    error: ErrorDetail | None
    provider_metadata: ProviderMetadata
    # An edit's answer only (spec/image-edit.md): each input's size, in input order.
    input_images: list[InputImageSize] | msgspec.UnsetType = msgspec.UNSET


class ModelCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    max_n: int
    sizes: list[str] | None
    min_side: int
    max_side: int
    size_multiple: int
    seed: bool
    negative_prompt: bool
    steps: bool
    guidance: bool
    formats: list[OutputFormat]
    streaming: bool
    aspect_ratios: list[str] | None = None
    # POST /api/v1/image/edit (spec/image-edit.md): can edit, how many inputs, whether a mask.
    edit: bool = False
    max_input_images: int = 0
    edit_mask: bool = False


class ModelProvider(msgspec.Struct, frozen=True, kw_only=True):
    deployment: str
    provider: str
    adapter: str
    model: str
    capabilities: ModelCapabilities


class ModelInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    aliases: list[str]
    description: str
    providers: list[ModelProvider]


class ModelsResponse(msgspec.Struct, frozen=True, kw_only=True):
    object: Literal["list"]
    data: list[ModelInfo]


REQUEST_DECODER = msgspec.json.Decoder(GenerateRequest)
_FIELD_IN_MESSAGE = re.compile(r"`\$\.([A-Za-z_]+)|field `([A-Za-z_]+)`")


def decode_generate_request(body: bytes) -> GenerateRequest:
    """Strictly decode the body; translate msgspec's errors into InvalidRequest with `param`."""
    try:
        return REQUEST_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _FIELD_IN_MESSAGE.search(text)
        param = (match.group(1) or match.group(2)) if match else None
        message = text.replace("`$.", "`")
        raise InvalidRequest(message, param=param) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:  # msgspec raises it for invalid UTF-8 inside strings
        raise InvalidRequest("body is not valid UTF-8 JSON") from exc
    except RecursionError:  # msgspec decodes `metadata` recursively: nesting must not cost a 500
        raise InvalidRequest("body is nested too deeply", param="metadata") from None
