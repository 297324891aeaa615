"""Edit inputs for adapter tests: canonical `InputImage`s and a mask with a known transparent area."""

from __future__ import annotations

import io

from PIL import Image

from gateway.canonical import ImageRequest, InputImage
from tests.support.images import png

W, H = 96, 64  # the base image's size; the mask's transparent (edit) area is its left half


def input_png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (W, H)) -> InputImage:
    return InputImage(data=png(color, size), media_type="image/png", width=size[0], height=size[1])


def half_mask(size: tuple[int, int] = (W, H), *, soft: int | None = None) -> InputImage:
    """Canonical mask: left half alpha 0 (edit), right half opaque (keep); `soft` puts that alpha
    in the top-left pixel (a feathered edge)."""
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    if soft is not None:
        image.putpixel((0, 0), (0, 0, 0, soft))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return InputImage(data=out.getvalue(), media_type="image/png", width=size[0], height=size[1])


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def edit_request(*images: InputImage, mask: InputImage | None = None, **fields: object) -> ImageRequest:
    return ImageRequest(model="m", prompt="paint it blue", images=images or (input_png(),), mask=mask, **fields)  # type: ignore[arg-type]
