"""The mock double's edit: a deterministic, visible change drawn over the base image, so a test can
tell that the base (and the mask) were used.

    with a mask     the area the mask marks for editing (alpha 0) is filled with a colour from
                    (prompt, seed); the rest of the base image is left as it was
    without a mask  a horizontal band of that colour across the middle fifth of the image
    references      each drawn as a small thumbnail along the top edge, left to right

The base is resized to the output size first (the mask with it). CPU work: called through
gateway/imaging.py `off_loop`, like the generate drawing.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw, ImageStat

from gateway.canonical import OutputFormat

_PIL_FORMAT = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}
THUMB_FRACTION = 8  # a reference thumbnail is 1/8 of the output's shorter side
MIN_CONTRAST = 96  # summed channel distance between the fill and the area it covers


def edit_colour(prompt: str, seed: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"edit\x00{seed}\x00{prompt}".encode()).digest()
    return digest[0], digest[1], digest[2]


def render_edit(
    base: bytes,
    mask: bytes | None,
    references: tuple[bytes, ...],
    prompt: str,
    seed: int,
    size: tuple[int, int],
    fmt: OutputFormat,
) -> bytes:
    with Image.open(io.BytesIO(base)) as source:
        image = source.convert("RGB").resize(size)
    width, height = size
    if mask is not None:
        with Image.open(io.BytesIO(mask)) as mask_image:
            alpha = mask_image.convert("RGBA").getchannel("A")  # RGBA, LA, or a palette with tRNS
            edit_area = alpha.resize(size).point(lambda a: 255 if a == 0 else 0)
    else:
        edit_area = Image.new("L", size, 0)
        ImageDraw.Draw(edit_area).rectangle((0, height * 2 // 5, width, height * 3 // 5), fill=255)
    colour = _visible(edit_colour(prompt, seed), image, edit_area)
    image = Image.composite(Image.new("RGB", size, colour), image, edit_area)
    side = max(1, min(size) // THUMB_FRACTION)
    for i, reference in enumerate(references):
        with Image.open(io.BytesIO(reference)) as ref:
            image.paste(ref.convert("RGB").resize((side, side)), (i * side % max(1, size[0] - side + 1), 0))
    out = io.BytesIO()
    image.save(out, format=_PIL_FORMAT[fmt], **({"quality": 90} if fmt is not OutputFormat.PNG else {}))
    return out.getvalue()


def _visible(colour: tuple[int, int, int], image: Image.Image, area: Image.Image) -> tuple[int, int, int]:
    """The colour, or the far extreme of each channel when it is close to the area's mean colour: a
    seed must never draw an edit that cannot be told from the base (tests check the edit is there)."""
    if area.getbbox() is None:
        return colour
    mean = ImageStat.Stat(image, mask=area).mean
    if sum(abs(c - m) for c, m in zip(colour, mean, strict=True)) >= MIN_CONTRAST:
        return colour
    red, green, blue = (0 if m > 127 else 255 for m in mean)
    return red, green, blue
