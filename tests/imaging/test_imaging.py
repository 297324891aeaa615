"""Transcoding matrix: each source format -> each requested format, by magic bytes; dimensions kept;
metadata stripped unless the prompt is to be embedded."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from gateway import imaging
from gateway.canonical import OutputFormat
from tests.support.images import short_jpeg

FORMATS = list(OutputFormat)
PIL_NAME = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}
SECRET_PARAMS = "Steps: 20, Sampler: Euler, Seed: 1, Model hash: abc, workflow {...}"


def source(fmt: OutputFormat, *, mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> bytes:
    """An image carrying provider metadata the way A1111/ComfyUI embed it."""
    image = Image.new(mode, size, (10, 120, 200, 128)[: len(mode)])
    out = io.BytesIO()
    if fmt is OutputFormat.PNG:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", SECRET_PARAMS)
        image.save(out, format="PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[imaging.EXIF_USER_COMMENT] = SECRET_PARAMS
        image.save(out, format=PIL_NAME[fmt], exif=exif.tobytes())
    return out.getvalue()


def metadata_text(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        parts = [str(v) for v in image.info.values() if isinstance(v, str | bytes)]
        parts += [str(v) for v in image.getexif().values()]
    return " ".join(parts)


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("src", FORMATS)
def test_transcode_matrix_strips_metadata(src: OutputFormat, target: OutputFormat) -> None:
    original = source(src)
    assert "Seed" in metadata_text(original) and imaging.has_metadata(original, src)
    data, info = imaging.finish(original, target)
    assert imaging.sniff_format(data) is target
    assert (info.format, info.width, info.height) == (target, 96, 64)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == PIL_NAME[target] and decoded.size == (96, 64)
    assert "Seed" not in metadata_text(data)
    assert not imaging.has_metadata(data, target)
    assert imaging.read_embedded_prompt(data) is None


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("src", FORMATS)
def test_transcode_matrix_embeds_only_the_prompt(src: OutputFormat, target: OutputFormat) -> None:
    data, info = imaging.finish(source(src), target, embed_prompt="a red fox in snow")
    assert imaging.sniff_format(data) is target and (info.width, info.height) == (96, 64)
    assert imaging.read_embedded_prompt(data) == "a red fox in snow"
    assert "Seed" not in metadata_text(data)


@pytest.mark.parametrize("target", FORMATS)
def test_transparent_png_to_each_format(target: OutputFormat) -> None:
    data, info = imaging.finish(source(OutputFormat.PNG, mode="RGBA", size=(40, 30)), target)
    assert imaging.sniff_format(data) is target and (info.width, info.height) == (40, 30)


def test_clean_image_in_the_right_format_passes_through_untouched() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    clean = out.getvalue()
    assert imaging.finish(clean, OutputFormat.PNG)[0] is clean


@pytest.mark.parametrize("blob", [b"", b"{}", b"<html></html>", b"\x89PNG\r\n\x1a\ntruncated"])
def test_non_images_are_rejected(blob: bytes) -> None:
    with pytest.raises(imaging.NotAnImage):
        imaging.finish(blob, OutputFormat.PNG)


@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"progressive": True, "optimize": True}])
def test_a_flat_jpeg_is_not_mistaken_for_a_truncated_one(options: dict[str, object]) -> None:
    """The scan-size bound is 1 bit per 8x8 block; the smallest legitimate Huffman coding of a
    flat image (optimized tables) takes 2."""
    out = io.BytesIO()
    Image.new("L", (2048, 2048), 128).save(out, "JPEG", **options)
    imaging.check_jpeg_scan(out.getvalue())
    with pytest.raises(imaging.NotAnImage, match="truncated image"):
        imaging.check_jpeg_scan(short_jpeg(2048))
