"""A provider's base64 PNG goes out in the data URL untouched unless the gateway must transcode."""

from __future__ import annotations

import base64
import io
import zlib

import pytest
from PIL import Image, PngImagePlugin

from gateway import finishing, imaging, upstream
from gateway.canonical import ImageRequest, OutputFormat, OutputType, ProviderImage
from gateway.errors import FailureClass, ProviderError
from gateway.generation import FinishedImage
from gateway.responders import image_object


def png(width: int = 40, height: int = 24, *, text: str | None = None) -> bytes:
    image = Image.frombytes("RGB", (width, height), bytes(range(256)) * (width * height * 3 // 256 + 1))
    out = io.BytesIO()
    info = None
    if text is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", text)
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize("size", [(40, 24), (1, 1), (123, 77)])
def test_inspect_base64_reads_size_of_a_clean_png(size: tuple[int, int]) -> None:
    info = imaging.inspect_base64(b64(png(*size)))
    assert info == imaging.ImageInfo(OutputFormat.PNG, *size)


def test_inspect_base64_agrees_with_a_full_decode_for_many_idat_chunks() -> None:
    data = png(64, 64)
    sig, ihdr_end = data[:8], 8 + 25
    idat_start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[idat_start : idat_start + 4], "big")
    payload = data[idat_start + 8 : idat_start + 8 + length]
    pieces = [payload[i : i + 7] for i in range(0, len(payload), 7)]  # odd offsets vs base64 blocks
    rebuilt = sig + data[8:ihdr_end] + b"".join(chunk(b"IDAT", p) for p in pieces) + chunk(b"IEND", b"")
    assert imaging.inspect(rebuilt) == imaging.inspect_base64(b64(rebuilt))


@pytest.mark.parametrize(
    "text",
    [
        b64(png(text="prompt: a cat")),  # metadata: must be stripped, so decoded
        b64(png()[:-12]),  # truncated: no IEND
        b64(png() + b"trailing"),  # bytes after IEND
        b64(b"\xff\xd8\xff\xe0" + b"\x00" * 40),  # a JPEG: not passed through here
        b64(png())[:-4],  # cut mid-image
        b64(png()).rstrip("=") + "A",  # bad length/padding
        "Ã" * 40,  # not ASCII
    ],
)
def test_inspect_base64_declines_anything_but_a_clean_complete_png(text: str) -> None:
    assert imaging.inspect_base64(text) is None


def test_has_metadata_walks_png_chunks_not_bytes() -> None:
    clean = png()
    assert not imaging.has_metadata(clean, OutputFormat.PNG)
    assert imaging.has_metadata(png(text="x"), OutputFormat.PNG)
    # "tEXt" inside pixel data is not a metadata chunk
    fake = clean[:33] + chunk(b"IDAT", b"tEXt") + clean[33:]
    assert not imaging.has_metadata(fake, OutputFormat.PNG)
    assert imaging.has_metadata(clean[:-5], OutputFormat.PNG)  # malformed: take the re-encode path


def test_base64_image_checks_magic_without_decoding_everything() -> None:
    image = upstream.base64_image("p", b64(png()))
    assert image.b64 is not None and image.data == b"" and image.image_bytes() == png()
    for bad in ["not base64!!" * 4, b64(b"GIF89a" + b"\x00" * 30), "abc"]:
        with pytest.raises(ProviderError) as caught:
            upstream.base64_image("p", bad)
        assert caught.value.failure is FailureClass.UPSTREAM_INVALID


def request(**overrides: object) -> ImageRequest:
    return ImageRequest(model="m", prompt="a cat", **overrides)  # type: ignore[arg-type]


async def _finish(image: ProviderImage, req: ImageRequest) -> tuple[bytes, str | None, imaging.ImageInfo]:
    checked = await finishing.check_image("p", image, req)
    return checked.data, checked.b64, checked.info


async def test_finish_passes_clean_png_base64_through_unchanged() -> None:
    text = b64(png())
    data, passed, info = await _finish(ProviderImage(b64=text), request())
    assert passed is text and data == b"" and info.width == 40
    finished = FinishedImage(0, data, info, None, "p", passed)
    assert image_object(finished).data_url == "data:image/png;base64," + text
    assert finished.image_bytes() == png()


@pytest.mark.parametrize(
    "req",
    [
        request(output_format=OutputFormat.WEBP),
        request(output_type=OutputType.FILE),
        request(embed_exif_metadata=True),
    ],
)
async def test_finish_decodes_when_it_must_transcode_or_return_bytes(req: ImageRequest) -> None:
    data, passed, info = await _finish(ProviderImage(b64=b64(png())), req)
    assert passed is None and imaging.sniff_format(data) is req.output_format
    assert (info.width, info.height) == (40, 24)


async def test_finish_strips_metadata_from_base64_input() -> None:
    data, passed, _ = await _finish(ProviderImage(b64=b64(png(text="secret"))), request())
    assert passed is None and not imaging.has_metadata(data, OutputFormat.PNG)
