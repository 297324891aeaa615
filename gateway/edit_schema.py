"""Wire type of POST /api/v1/image/edit (spec/image-edit.md), strict like gateway/schemas.py.

Fields shared with generate are checked by generate's own rules (`GenerateRequest.to_canonical`);
the image sources are checked in gateway/edit_inputs.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from gateway.canonical import ImageRequest, OutputFormat, OutputType, Quality
from gateway.edit_inputs import ImageSource
from gateway.errors import InvalidRequest
from gateway.schemas import MAX_SEED, GenerateRequest, PixelsInt, PixelsText, RequestBounds

MAX_INPUT_IMAGES = 16
MAX_EDIT_N = 6


class EditRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of POST /api/v1/image/edit."""

    model: Annotated[str, Meta(min_length=1, max_length=128, description="canonical model slug or alias")]
    prompt: Annotated[str, Meta(min_length=1)]
    images: Annotated[
        list[ImageSource],
        Meta(min_length=1, max_length=MAX_INPUT_IMAGES, description="the first is the base image"),
    ]
    mask: ImageSource | None = None  # alpha 0 = edit; the size of images[0]
    negative_prompt: Annotated[str, Meta(max_length=32000)] | None = None
    n: Annotated[int, Meta(ge=1, le=MAX_EDIT_N)] = 1
    width: PixelsText | PixelsInt | None = None
    height: PixelsText | PixelsInt | None = None
    aspect_ratio: Annotated[str, Meta(pattern=r"^[1-9][0-9]{0,4}:[1-9][0-9]{0,4}$")] | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None
    output_format: OutputFormat = OutputFormat.PNG
    output_type: OutputType = OutputType.DATA_URL
    seed: Annotated[int, Meta(ge=-1, le=MAX_SEED)] | None = None
    guide_scale: Annotated[float, Meta(ge=0.0, le=50.0)] | None = None
    stream: bool = False
    user: Annotated[str, Meta(max_length=256)] | None = None
    metadata: dict[str, Any] | None = None
    webhook_url: Annotated[str, Meta(max_length=2048)] | None = None  # async jobs (spec/jobs.md)
    quality: Quality | None = None
    steps: Annotated[int, Meta(ge=1)] | None = None
    strength: Annotated[float, Meta(ge=0.0, le=1.0, description="img2img denoising strength")] | None = None

    def to_canonical(self, limits: RequestBounds) -> ImageRequest:
        """The canonical request without its images (gateway/edit_inputs.py loads those)."""
        shared = GenerateRequest(
            model=self.model,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            n=self.n,
            width=self.width,
            height=self.height,
            aspect_ratio=self.aspect_ratio,
            quality=self.quality,
            output_format=self.output_format,
            output_type=self.output_type,
            seed=self.seed,
            guide_scale=self.guide_scale,
            stream=self.stream,
            steps=self.steps,
            user=self.user,
            metadata=self.metadata,
        ).to_canonical(limits)
        return msgspec.structs.replace(
            shared, strength=self.strength, prompt_extend=self.prompt_extend, watermark=self.watermark
        )


_DECODER = msgspec.json.Decoder(EditRequest)
# `$.images[2].b64` -> images[2]; `$.mask.url` -> mask; else the field named (`field `model``)
_PATH = re.compile(r"`\$\.([A-Za-z_]+(?:\[[0-9]+\])?)")
_FIELD = re.compile(r"field `([A-Za-z_]+)`")


def decode_edit_request(body: bytes) -> EditRequest:
    """Strictly decode the body; msgspec's errors become InvalidRequest with `param`."""
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text) or _FIELD.search(text)
        param = match.group(1) if match else None
        raise InvalidRequest(text.replace("`$.", "`"), param=param) from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest("body is not valid UTF-8 JSON") from exc
    except RecursionError:
        raise InvalidRequest("body is nested too deeply", param="metadata") from None
