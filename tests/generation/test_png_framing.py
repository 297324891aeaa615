"""A PNG that goes out unchanged is proven from its framing and first bytes, never pixel-decoded."""

from __future__ import annotations

import base64
import zlib

import pytest
from PIL import Image

from gateway import finishing, imaging
from gateway.canonical import ImageRequest, OutputType, ProviderImage
from gateway.errors import ProviderError
from tests.support.images import corrupt_idat_png, png_chunks, png_from, sized_png, truncated_png


def prove(data: bytes, cap: int = imaging.MAX_PIXELS) -> imaging.ImageInfo:
    return imaging.prove_png_framing(*imaging.bytes_reader(data), cap)


def with_ihdr(data: bytes, ihdr: bytes, *, fix_crc: bool = True) -> bytes:
    chunks = [(kind, ihdr if kind == b"IHDR" else payload) for kind, payload in png_chunks(data)]
    out = png_from(chunks)
    if not fix_crc:
        out = out[:29] + bytes([out[29] ^ 1]) + out[30:]  # the IHDR CRC's first byte
    return out


def test_a_clean_png_passes_in_both_forms_without_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    data = sized_png(300, 200)
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("the framing proof opened Pillow"))
    assert prove(data) == imaging.ImageInfo(imaging.OutputFormat.PNG, 300, 200)
    text = base64.b64encode(data).decode()
    assert imaging.prove_png_framing(*imaging.base64_reader(text), imaging.MAX_PIXELS).width == 300


BROKEN = {
    "truncated": truncated_png(),
    "corrupt idat": corrupt_idat_png(),
    "padded": sized_png(64, 64) + b"\x00" * 4,
    "ihdr crc": with_ihdr(sized_png(64, 64), png_chunks(sized_png(64, 64))[0][1], fix_crc=False),
    "bad depth": with_ihdr(sized_png(64, 64), (64).to_bytes(4, "big") * 2 + bytes([7, 2, 0, 0, 0])),
    "no idat": png_from([(k, p) for k, p in png_chunks(sized_png(64, 64)) if k != b"IDAT"]),
    "not zlib": png_from([(k, b"\x00" * 40 if k == b"IDAT" else p) for k, p in png_chunks(sized_png(64, 64))]),
}


@pytest.mark.parametrize("data", BROKEN.values(), ids=BROKEN.keys())
def test_broken_framing_or_a_garbage_stream_is_refused(data: bytes) -> None:
    with pytest.raises(imaging.NotAnImage):
        prove(data)


def test_the_pixel_cap_is_checked_from_the_header() -> None:
    with pytest.raises(imaging.NotAnImage, match="out of bounds"):
        prove(sized_png(64, 64), cap=64 * 63)


async def test_passthrough_and_file_delivery_do_not_decode_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    data = sized_png(128, 96)
    monkeypatch.setattr(imaging, "prove_decodable", lambda *a: pytest.fail("full decode"))
    for output_type in (OutputType.DATA_URL, OutputType.FILE):
        req = ImageRequest(model="m", prompt="p", output_type=output_type)
        checked = await finishing.check_image("p", ProviderImage(b64=base64.b64encode(data).decode()), req)
        assert (checked.width, checked.height) == (128, 96)
        assert checked.image_bytes() == data


async def test_a_bad_stream_in_base64_is_upstream_invalid() -> None:
    bad = png_from([(k, zlib.compress(b"x")[:2] + b"\xff" * 30 if k == b"IDAT" else p)
                    for k, p in png_chunks(sized_png(64, 64))])
    with pytest.raises(ProviderError, match="does not decode"):
        await finishing.check_image("p", ProviderImage(b64=base64.b64encode(bad).decode()), ImageRequest(model="m", prompt="p"))


async def test_a_short_walk_is_proven_on_the_loop_and_a_long_one_in_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    hops: list[object] = []
    original = imaging.off_loop

    async def counting(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(fn)
        return await original(fn, *args, **kwargs)

    monkeypatch.setattr(imaging, "off_loop", counting)
    req = ImageRequest(model="m", prompt="p")
    data = sized_png(64, 64)
    await finishing.check_image("p", ProviderImage(b64=base64.b64encode(data).decode()), req)
    assert hops == []
    chunks = png_chunks(data)
    many = png_from([chunks[0], *[(b"sPLT", b"x\x00\x08")] * (finishing.INLINE_MAX_CHUNKS + 1), *chunks[1:]])
    checked = await finishing.check_image("p", ProviderImage(b64=base64.b64encode(many).decode()), req)
    assert len(hops) == 1 and (checked.width, checked.height) == (64, 64) and checked.b64 is not None
