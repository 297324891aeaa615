"""A PNG that goes out unchanged is proven from its framing and its whole zlib stream, never
pixel-decoded (no Pillow, no pixel buffer)."""

from __future__ import annotations

import base64
import io
import random
import zlib
from collections.abc import Callable

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


def _noisy_png(width: int, height: int, *, interlace: bool = False) -> bytes:
    """A PNG whose IDAT is long (random pixels compress badly): deep corruption sits far past any probe."""
    pixels = random.Random(7).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="PNG", interlace=interlace)
    return out.getvalue()


def _rewrite_idat(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The PNG with its joined IDAT data changed by `change`, in one IDAT chunk with valid CRCs."""
    chunks = png_chunks(data)
    idat = change(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
    out: list[tuple[bytes, bytes]] = []
    for kind, payload in chunks:
        if kind != b"IDAT":
            out.append((kind, payload))
        elif not any(k == b"IDAT" for k, _ in out):
            out.append((kind, idat))
    return png_from(out)


def _flip_deep(idat: bytes) -> bytes:
    middle = len(idat) * 3 // 4
    return idat[:middle] + bytes([idat[middle] ^ 0x55]) + idat[middle + 1 :]


def _wrong_filter(width: int, height: int) -> bytes:
    rows = b"".join(bytes([9]) + bytes(width * 3) for _ in range(height))  # filter type 9 does not exist
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return png_from([(b"IHDR", ihdr), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")])


DEEP = {
    "corrupt deep in the stream, every CRC valid": _rewrite_idat(_noisy_png(256, 256), _flip_deep),
    "stream cut short, every CRC valid": _rewrite_idat(_noisy_png(256, 256), lambda idat: idat[:-2000]),
    "stream inflating to half the rows": _rewrite_idat(
        _noisy_png(64, 64), lambda idat: zlib.compress(zlib.decompress(idat)[: 32 * (1 + 64 * 3)])
    ),
    "unknown filter type": _wrong_filter(32, 8),
}


@pytest.mark.parametrize("data", DEEP.values(), ids=DEEP.keys())
def test_a_corrupt_idat_past_the_first_bytes_is_refused(data: bytes) -> None:
    with pytest.raises(imaging.NotAnImage):
        prove(data)
    if data is not DEEP["stream inflating to half the rows"]:  # Pillow fills those rows; we refuse
        with pytest.raises((OSError, ValueError, SyntaxError)), Image.open(io.BytesIO(data)) as image:
            image.load()  # and Pillow agrees: none of these decodes


def test_interlaced_and_noisy_pngs_pass() -> None:
    assert prove(_noisy_png(97, 61, interlace=True)).height == 61
    assert prove(_noisy_png(256, 256)).width == 256


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


@pytest.mark.parametrize("stray", ["\x01", " ", "-", "é"])
async def test_a_stray_character_deep_inside_the_base64_is_upstream_invalid(stray: str) -> None:
    """Every character of a passing-through text is checked (it goes into a JSON string as is):
    not only the blocks the chunk walk reads."""
    text = base64.b64encode(sized_png(256, 256)).decode()
    middle = len(text) // 2
    bad = text[:middle] + stray + text[middle + 1 :]
    with pytest.raises(ProviderError) as caught:
        await finishing.check_image("p", ProviderImage(b64=bad), ImageRequest(model="m", prompt="p"))
    assert caught.value.failure.value == "upstream_invalid"
