"""Image bytes: detect the real format by magic bytes, read dimensions, transcode, strip or embed metadata.

Nothing here trusts a provider's label, nor its bytes: every image is proven to decode before it is
used. Images already in the requested format and carrying no metadata keep their bytes (no
re-encode) but are still decoded once (`prove_decodable`), since a valid header and chunk framing
say nothing of the compressed pixel data. The size in the header is checked against a pixel cap
before any pixel is decoded.

Decoding and encoding are CPU- and memory-heavy, so they run in one bounded thread pool
(`off_loop`): at most IMAGE_THREADS images are being decoded at once in a process, which bounds the
memory pixels can take to IMAGE_THREADS x (the largest image allowed) and keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import io
import os
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from PIL import Image, PngImagePlugin
from zlib_ng import zlib_ng

from gateway.b64 import b64decode
from gateway.canonical import OutputFormat

_PIL_FORMAT = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}
_SAVE_OPTIONS: dict[OutputFormat, dict[str, object]] = {
    OutputFormat.PNG: {"optimize": False},
    OutputFormat.JPEG: {"quality": 92},
    OutputFormat.WEBP: {"quality": 90},
}
EXIF_IMAGE_DESCRIPTION = 0x010E
EXIF_USER_COMMENT = 0x9286
MAX_PIXELS = 8192 * 8192
IMAGE_THREADS = max(1, min(4, os.cpu_count() or 1))  # decoding is CPU-bound: more threads than cores buy nothing
# What Pillow raises for a body that does not decode (truncated, bad zlib/DCT stream, bad chunks).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)
# Process-wide on purpose (like the metric collectors): the bound it gives is a per-process one.
_POOL = ThreadPoolExecutor(max_workers=IMAGE_THREADS, thread_name_prefix="imagegate-image")

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an image job in the bounded image pool (never on the event loop, never unbounded)."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))


class NotAnImage(ValueError):
    """The bytes are not a PNG, JPEG or WebP image we can read."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: OutputFormat
    width: int
    height: int


def sniff_format(data: bytes) -> OutputFormat | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return OutputFormat.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return OutputFormat.JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return OutputFormat.WEBP
    return None


def inspect(data: bytes, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Format from magic bytes; dimensions from the header only (Pillow opens lazily), within `max_pixels`."""
    fmt = sniff_format(data)
    if fmt is None:
        raise NotAnImage("bytes are not a PNG, JPEG or WebP image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"unreadable {fmt.value} image: {type(exc).__name__}") from exc
    if width <= 0 or height <= 0 or width * height > min(max_pixels, MAX_PIXELS):
        raise NotAnImage(f"image dimensions {width}x{height} are out of bounds")
    return ImageInfo(fmt, width, height)


def prove_decodable(data: bytes, fmt: OutputFormat) -> None:
    """Decode the image once (NotAnImage if it does not), for bytes that will go out unchanged.

    PNG: `verify()` checks the chunk CRCs, then `load()` inflates and unfilters every row (verify
    alone never reads the zlib stream). JPEG: a DCT-scaled draft decode reads the whole entropy-coded
    stream at 1/64 of the pixels. WebP: a full decode. Call only after `inspect` bounded the size.
    """
    if fmt is OutputFormat.JPEG:
        check_jpeg_scan(data)
    try:
        if fmt is OutputFormat.PNG:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        with Image.open(io.BytesIO(data)) as image:
            if fmt is OutputFormat.JPEG:
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except _DECODE_ERRORS as exc:
        raise NotAnImage(f"{fmt.value} image does not decode: {type(exc).__name__}") from exc


# Huffman-coded frames (baseline, extended, progressive): every 8x8 block of the full-size
# component costs at least one bit (a DC code is 1..16 bits). Arithmetic-coded frames can code a
# flat block in a fraction of a bit, so they are not judged by this bound.
_HUFFMAN_SOF = frozenset({0xC0, 0xC1, 0xC2})
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def check_jpeg_scan(data: bytes) -> None:
    """NotAnImage("truncated image") for a JPEG whose header promises more blocks than its
    entropy-coded data can hold: libjpeg decodes such a file "successfully" when the EOI marker
    comes early, filling the missing blocks with grey (a warning Pillow does not surface), so a
    600-byte file can claim 8192x8192. A cheap lower bound (1 bit per block), read from the marker
    segments only; a file that is short by less than that is not caught (docs/editing.md)."""
    size, i, huffman = len(data), 2, False
    width = height = 0
    while i + 4 <= size and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers (no length)
            i += 2
            continue
        (length,) = struct.unpack_from(">H", data, i + 2)
        if marker in _SOF and i + 9 <= size:
            height, width = struct.unpack_from(">HH", data, i + 5)
            huffman = marker in _HUFFMAN_SOF
        if marker == 0xDA:  # start of scan: the entropy-coded data follows this segment
            if not huffman:
                return
            blocks = -(-width // 8) * -(-height // 8)
            scan = size - (i + 2 + length)
            if scan * 8 < blocks:
                raise NotAnImage(
                    f"truncated image: a {width}x{height} JPEG needs at least {blocks // 8} bytes of "
                    f"scan data, it has {max(0, scan)}"
                )
            return
        i += 2 + length


def has_metadata(data: bytes, fmt: OutputFormat) -> bool:
    """Cheap check for EXIF/text chunks, so clean images skip the re-encode."""
    head = data[: 64 * 1024]
    if fmt is OutputFormat.PNG:
        # Walk the chunk headers (a few dozen reads) instead of scanning every byte; a PNG whose
        # chunks do not line up is treated as carrying metadata, so it takes the re-encode path.
        try:
            return _png_walk(lambda offset, size: data[offset : offset + size], len(data))[2]
        except NotAnImage:
            return True
    if fmt is OutputFormat.JPEG:
        return b"Exif\x00\x00" in head or b"\xff\xfe" in head[:4096]
    return b"EXIF" in head or b"XMP " in head


def inspect_base64(text: str) -> ImageInfo | None:
    walked = inspect_base64_walk(text)
    return None if walked is None else walked[0]


def inspect_base64_walk(
    text: str, max_chunks: int | None = None
) -> tuple[ImageInfo, tuple[int, int, bool, tuple[int, int]]] | None:
    """Info of a clean, well-formed PNG given as base64 text, decoding only its chunk headers.

    None means "decode it and take the ordinary path" (not a PNG, metadata chunks, a malformed or
    truncated chunk structure, bad padding). This lets a provider's base64 go out in a data URL
    without being decoded and re-encoded: for a 2 MB image that is two full passes saved."""
    if not text.isascii() or len(text) % 4 or len(text) < 24:
        return None
    read, total = base64_reader(text)

    try:
        chunks = _png_chunks(read, total, max_chunks)
    except TooManyChunks:
        raise
    except (NotAnImage, binascii.Error, ValueError):
        return None
    width, height, metadata, _ = chunks
    if metadata or width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        return None
    return ImageInfo(OutputFormat.PNG, width, height), chunks


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA = frozenset({b"tEXt", b"iTXt", b"zTXt", b"eXIf"})


def _png_walk(read: Callable[[int, int], bytes], total: int) -> tuple[int, int, bool]:
    """(width, height, has metadata chunks) from a PNG's chunk headers, which must run from the
    signature to an IEND that ends exactly at `total`; else NotAnImage."""
    width, height, metadata, _ = _png_chunks(read, total)
    return width, height, metadata


class TooManyChunks(NotAnImage):
    """The walk stopped at its `max_chunks` (not a verdict on the image: walk it without a bound)."""


def _png_chunks(
    read: Callable[[int, int], bytes], total: int, max_chunks: int | None = None
) -> tuple[int, int, bool, tuple[int, int]]:
    """`_png_walk` plus (offset, length) of the first IDAT chunk's data ((0, 0) if none);
    TooManyChunks past `max_chunks` chunks."""
    if read(0, 8) != _PNG_SIGNATURE:
        raise NotAnImage("not a PNG")
    header = read(8, 16)
    if len(header) < 16 or header[:8] != b"\x00\x00\x00\x0dIHDR":
        raise NotAnImage("PNG does not start with IHDR")
    width, height = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
    offset, kind, metadata, idat = 8, b"", False, (0, 0)
    walked = 0
    while offset + 12 <= total and kind != b"IEND":
        walked += 1
        if max_chunks is not None and walked > max_chunks:
            raise TooManyChunks(f"more than {max_chunks} PNG chunks")
        chunk = read(offset, 8)
        kind, size = chunk[4:8], int.from_bytes(chunk[:4], "big")
        metadata = metadata or kind in _PNG_METADATA
        if kind == b"IDAT" and not idat[1]:
            idat = (offset + 8, size)
        offset += 12 + size
    if kind != b"IEND" or offset != total:
        raise NotAnImage("PNG chunks do not end with IEND at the end of the data")
    return width, height, metadata, idat


# zlib_ng's stub declares `error` as an instance; it is the exception class.
_INFLATE_ERROR: type[Exception] = zlib_ng.error  # type: ignore[assignment]
# (colour type -> allowed bit depths), PNG spec 11.2.2
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Inflated PNG pixel data is read and dropped in pieces of this size: the proof never holds the
# image's raw pixels, only one piece at a time.
PNG_INFLATE_PIECE = 1 << 20
_INFLATE_INPUT_STEP = 256 * 1024
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x0, y0, dx, dy)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, bits_per_pixel: int, interlace: int) -> int:
    """Bytes of filtered scanlines the zlib stream must inflate to (PNG spec 7.2, 8.2)."""
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    size = 0
    for x0, y0, dx, dy in passes:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns > 0 and rows > 0:
            size += rows * (1 + (columns * bits_per_pixel + 7) // 8)
    return size


def prove_png_framing(
    read: Callable[[int, int], bytes],
    total: int,
    max_pixels: int,
    chunks: tuple[int, int, bool, tuple[int, int]] | None = None,
) -> ImageInfo:
    """A PNG proven decodable without Pillow building its pixels (NotAnImage if not).

    Checked: the signature; IHDR first, 13 bytes, its CRC, a bit depth valid for its colour type,
    compression/filter 0, interlace 0 or 1, 0 < width x height <= `max_pixels`; chunk lengths that
    chain to an IEND ending exactly at `total` (a truncated or padded body fails); and the whole
    zlib stream of the IDAT chunks inflates (its Adler-32 included) to exactly the size of the
    image's scanlines, with a valid filter type (0..4) on every row of a non-interlaced image — so
    a corrupt IDAT deep inside the pixel data fails here (issue 14), at inflate cost only: no
    unfiltering, no pixel buffer (pieces of PNG_INFLATE_PIECE are dropped as they come).
    Not checked: the CRCs of chunks other than IHDR (zlib's own checksum covers the pixel data).
    `chunks`: the walk's result when the caller already made it (`inspect_base64_walk`)."""
    width, height, _, (idat_at, idat_len) = chunks or _png_chunks(read, total)
    ihdr = read(8, 25)
    if len(ihdr) != 25 or binascii.crc32(ihdr[4:21]) != int.from_bytes(ihdr[21:25], "big"):
        raise NotAnImage("PNG IHDR CRC does not match")
    depth, colour, compression, filtering, interlace = ihdr[16:21]
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise NotAnImage("PNG IHDR is not valid")
    if width <= 0 or height <= 0 or width * height > min(max_pixels, MAX_PIXELS):
        raise NotAnImage(f"image dimensions {width}x{height} are out of bounds")
    if not idat_len:
        raise NotAnImage("PNG has no image data")
    bits = _PNG_CHANNELS[colour] * depth
    expected = _png_raw_size(width, height, bits, interlace)
    row = 0 if interlace else 1 + (width * bits + 7) // 8
    _inflate_idat(read, total, idat_at - 8, expected, row)
    return ImageInfo(OutputFormat.PNG, width, height)


def _inflate_idat(read: Callable[[int, int], bytes], total: int, offset: int, expected: int, row: int) -> None:
    """Inflate every IDAT chunk from `offset` on, dropping the output; `row` > 0: check each
    scanline's filter byte."""
    inflater = zlib_ng.decompressobj()  # zlib-ng: 4-6x zlib's inflate speed (docs/benchmarks.md)
    produced = 0
    try:
        while offset + 12 <= total:
            header = read(offset, 8)
            kind, size = header[4:8], int.from_bytes(header[:4], "big")
            if kind == b"IEND":
                break
            if kind == b"IDAT":
                data = memoryview(read(offset + 8, size))
                # Fed in bounded steps: zlib copies the input it has not consumed (`unconsumed_tail`)
                # each time the output piece fills, so a whole 2 MB chunk at once was re-copied per piece.
                for step in range(0, size, _INFLATE_INPUT_STEP):
                    pending: bytes | memoryview = data[step : step + _INFLATE_INPUT_STEP]
                    while pending:
                        out = inflater.decompress(pending, PNG_INFLATE_PIECE)
                        if row and out:
                            filters = out[(-produced) % row :: row]
                            if filters and max(filters) > 4:
                                raise NotAnImage("PNG scanline has an unknown filter type")
                        produced += len(out)
                        if produced > expected:
                            raise NotAnImage("PNG image data inflates past the image's size")
                        pending = inflater.unconsumed_tail
            offset += 12 + size
    except _INFLATE_ERROR as exc:
        raise NotAnImage(f"PNG image data does not inflate: {exc}") from None
    if not inflater.eof or produced != expected:
        raise NotAnImage("PNG image data is truncated")


def base64_reader(text: str) -> tuple[Callable[[int, int], bytes], int]:
    """(read(offset, size), decoded length) over base64 text, decoding only the blocks asked for."""
    total = len(text) // 4 * 3 - text[-2:].count("=")

    def read(offset: int, size: int) -> bytes:
        start = offset // 3
        chunk = b64decode(text[start * 4 : (offset + size + 2) // 3 * 4])
        return chunk[offset - start * 3 : offset - start * 3 + size]

    return read, total


def bytes_reader(data: bytes) -> tuple[Callable[[int, int], bytes], int]:
    """(read(offset, size), length) over bytes; reads are views (no copy of a 2 MB IDAT chunk)."""
    view = memoryview(data)
    return (lambda offset, size: view[offset : offset + size]), len(data)  # type: ignore[return-value]


def finish(
    data: bytes, target: OutputFormat, *, embed_prompt: str | None = None, max_pixels: int = MAX_PIXELS
) -> tuple[bytes, ImageInfo]:
    """Return bytes in `target` format, metadata stripped (or only the prompt embedded), with their
    info; NotAnImage when the bytes are not an image within `max_pixels` that decodes."""
    info = inspect(data, max_pixels)
    if info.format is target and embed_prompt is None and not has_metadata(data, info.format):
        if info.format is OutputFormat.PNG:  # inflate only, no pixel buffer: see prove_png_framing
            prove_png_framing(*bytes_reader(data), max_pixels)
        else:
            prove_decodable(data, info.format)
        return data, info
    if info.format is OutputFormat.JPEG:
        check_jpeg_scan(data)
    try:
        encoded = _reencode(data, target, embed_prompt)  # decodes every pixel: that is the proof
    except _DECODE_ERRORS as exc:
        raise NotAnImage(f"{info.format.value} image does not decode: {type(exc).__name__}") from exc
    return encoded, ImageInfo(target, info.width, info.height)


def _reencode(data: bytes, target: OutputFormat, embed_prompt: str | None) -> bytes:
    with Image.open(io.BytesIO(data)) as source:
        source.load()
        image: Image.Image = source
        if target is OutputFormat.JPEG and image.mode not in ("RGB", "L"):
            image = _flatten(image)
        elif image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert(
                "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
            )
        options: dict[str, object] = dict(_SAVE_OPTIONS[target])
        if embed_prompt is not None:
            options.update(_embedding(target, embed_prompt))
        out = io.BytesIO()
        image.save(out, format=_PIL_FORMAT[target], **options)
        return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _embedding(target: OutputFormat, prompt: str) -> dict[str, object]:
    if target is OutputFormat.PNG:
        text = PngImagePlugin.PngInfo()
        text.add_itxt("prompt", prompt)
        return {"pnginfo": text}
    exif = Image.Exif()
    exif[EXIF_IMAGE_DESCRIPTION] = prompt.encode("ascii", "replace").decode("ascii")
    return {"exif": exif.tobytes()}


def read_embedded_prompt(data: bytes) -> str | None:
    """The prompt `finish(..., embed_prompt=...)` wrote, if any (used by tests and clients)."""
    with Image.open(io.BytesIO(data)) as image:
        if isinstance(image.info.get("prompt"), str):
            return str(image.info["prompt"])
        description = image.getexif().get(EXIF_IMAGE_DESCRIPTION)
        return str(description) if description is not None else None
