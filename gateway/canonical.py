"""Internal types shared by the gateway and the adapters (not wire types: see gateway/api/schemas.py)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from gateway.b64 import b64decode


class Quality(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    AUTO = "auto"


class OutputFormat(enum.StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"


class OutputType(enum.StrEnum):
    DATA_URL = "data_url"
    FILE = "file"
    URL = "url"  # an extension (spec/jobs.md): images stored, returned as signed expiring links


class Operation(enum.StrEnum):
    """What a provider call does. An adapter performs an operation with the method of the same
    name (`generate(req, ctx)`, `edit(req, ctx)`), and the executor skips deployments without it."""

    GENERATE = "generate"
    EDIT = "edit"


class Resolution(enum.StrEnum):
    R1K = "1K"
    R2K = "2K"
    R4K = "4K"


class InputImage(msgspec.Struct, frozen=True, kw_only=True):
    """An edit input (image or mask) after the gateway fetched and checked it: the bytes as the
    client sent them, their real type (from the bytes, never the declared one) and size."""

    data: bytes
    media_type: str  # image/png | image/jpeg | image/webp
    width: int
    height: int


class ImageRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated canonical request (generate, or edit when `images` is not empty). `seed` None means "nondeterministic" (the wire's -1 or absent)."""

    model: str
    prompt: str
    n: int = 1
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    aspect_ratio: tuple[int, int] | None = None
    style: str | None = None
    quality: Quality | None = None
    output_format: OutputFormat = OutputFormat.PNG
    output_type: OutputType = OutputType.DATA_URL
    seed: int | None = None
    guide_scale: float | None = None
    stream: bool = False
    steps: int | None = None
    style_preset: str | None = None
    resolution: Resolution | None = None
    hide_watermark: bool | None = None
    lora_strength: int | None = None
    safe_mode: bool | None = None
    embed_exif_metadata: bool = False
    enable_web_search: bool | None = None
    user: str | None = None
    metadata: dict[str, object] | None = None
    # Edit only (image-edit.md): the first image is the base, the others references; mask alpha 0 = edit.
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    strength: float | None = None  # 0..1, img2img denoising strength
    prompt_extend: bool | None = None
    watermark: bool | None = None
    # /v1 only (spec/openai-compat.md): OpenAI fields with no canonical meaning (`background`,
    # `output_compression`, `input_fidelity`), passed to OpenAI deployments; other providers drop them.
    openai_fields: dict[str, str | int] | None = None


class ProviderImage(msgspec.Struct, frozen=True, kw_only=True):
    """One image as the provider delivered it: raw bytes in whatever format it chose, or — when the
    provider sent base64 — its base64 text in `b64` (and `data` empty). The gateway decodes `b64`
    only if it has to transcode or return raw bytes; otherwise the text goes out in the data URL
    as it came (`upstream.base64_image` builds these)."""

    data: bytes = b""
    seed: int | None = None
    b64: str | None = None
    # The same text as the provider's body bytes, when it was cut from the body (gateway/upstream/
    # spans.py): the responder writes these instead of re-encoding `b64`.
    b64_ascii: memoryview | None = None

    def image_bytes(self) -> bytes:
        return self.data if self.b64 is None else b64decode(self.b64)


class ProviderResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an adapter returns for one call. `raw` is the provider body with base64 blobs elided."""

    images: list[ProviderImage]
    raw: dict[str, object]
    warnings: list[str] = msgspec.field(default_factory=list)


class ProgressUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """An adapter's progress report (through `CallContext.report`). `index` None: every image of this call."""

    step: int
    total_steps: int | None = None
    index: int | None = None  # image index within this call


class PreviewImage(msgspec.Struct, frozen=True, kw_only=True):
    """An intermediate picture from an adapter (any format; advisory only)."""

    data: bytes
    index: int = 0  # image index within this call


Update = ProgressUpdate | PreviewImage
# Where an adapter reports progress and previews while its call runs; sync and never raising.
Report = Callable[[Update], None]


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider model supports; drives fan-out, size snapping and GET /api/v1/models."""

    max_n: int = 1
    sizes: list[tuple[int, int]] | None = None  # None: any size within the bounds below
    aspect_ratios: list[tuple[int, int]] | None = None  # aspect-only models: the ratios they take
    min_side: int = 64
    max_side: int = 8192
    size_multiple: int = 1
    supports_seed: bool = False
    supports_negative_prompt: bool = False
    supports_steps: bool = False
    supports_guidance: bool = False
    formats: list[OutputFormat] = msgspec.field(default_factory=lambda: [OutputFormat.PNG])
    streaming: bool = False
    stream_max_n: int | None = None  # images per streaming call when lower than max_n (gpt-image: 1)
    # Edit (image-edit.md "Provider mapping"): whether this model edits, how many inputs, a mask.
    edit: bool = False
    max_input_images: int = 0
    edit_mask: bool = False


@dataclass(frozen=True, slots=True)
class CallContext:
    """Per-call facts the router hands an adapter. Not a wire type."""

    request_id: str
    provider_model: str  # the provider's own model name for this deployment
    deadline: float  # absolute, time.monotonic() seconds
    attempt: int = 1
    options: dict[str, object] = field(default_factory=dict)  # per-deployment overrides
    # Set only when someone listens (a streamed request): an adapter whose provider can report
    # progress or previews then asks for them and reports each; None means "do the plain call".
    report: Report | None = None
    # Async jobs (gateway/jobs/): a submit-then-poll adapter tells `submitted` the handle of the task
    # it submitted (BFL's polling URL); given `resume`, it polls that task instead of submitting.
    submitted: Callable[[str], None] | None = None
    resume: str | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()
