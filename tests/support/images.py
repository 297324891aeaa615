"""Image bytes for tests and fakes: plain PNG/JPEG builders and the hostile PNGs a provider may send.

One home, so every fake and test builds the same bytes the same way (they were copied into nine files).
"""

from __future__ import annotations

import functools
import io
import struct
import threading
import zlib

from PIL import Image, PngImagePlugin


def png(
    color: tuple[int, int, int] = (200, 30, 30),
    size: tuple[int, int] = (64, 48),
    *,
    text: dict[str, str] | None = None,
) -> bytes:
    """A solid RGB PNG; `text` adds tEXt chunks (how A1111 embeds its generation parameters)."""
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def distinct_png(i: int) -> bytes:
    """A PNG whose colour follows `i`, so images from different calls differ byte for byte."""
    return png(((37 * i) % 256, (91 * i + 40) % 256, (53 * i + 90) % 256))


def jpeg(color: tuple[int, int, int] = (10, 200, 30), size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


_SIZED_CACHE: dict[tuple[int, int], bytes] = {}
_SIZED_LOCK = threading.Lock()


def sized_png(width: int, height: int) -> bytes:
    """A PNG of the asked size, cached (the socket fake serves many, from several threads)."""
    with _SIZED_LOCK:
        cached = _SIZED_CACHE.get((width, height))
        if cached is None:
            cached = _SIZED_CACHE[(width, height)] = png((200, 40, 40), (width, height))
        return cached


# ---- hostile provider output -------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append((data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def png_from(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, payload in chunks:
        out += len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")
    return out


def truncated_png(width: int = 64, height: int = 64) -> bytes:
    data = sized_png(width, height)
    return data[: len(data) // 2]


def short_jpeg(side: int = 4096) -> bytes:
    """A complete 16x16 JPEG (EOI included) whose frame header claims side x side: libjpeg decodes
    it without an error, filling the blocks it lacks with grey."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    struct.pack_into(">HH", data, data.find(b"\xff\xc0") + 5, side, side)
    return bytes(data)


def corrupt_idat_png(width: int = 64, height: int = 64) -> bytes:
    """Every chunk well framed with a correct CRC, but the IDAT's deflate stream is garbage."""
    chunks = png_chunks(sized_png(width, height))
    chunks = [(k, bytes([0x78, 0x9C]) + bytes(range(7, 250)) * 4 if k == b"IDAT" else p) for k, p in chunks]
    return png_from(chunks)


@functools.lru_cache(maxsize=1)
def bomb_png(side: int = 8192) -> bytes:
    """A small PNG whose header says side x side RGBA: rows of zeros compress ~1000:1."""
    row = b"\x00" + b"\x00" * (side * 4)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return png_from([(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", b"")])
