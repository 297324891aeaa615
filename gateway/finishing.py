"""Provider images proven and put in the requested form, inside the attempt that produced them.

The executor runs `check_result` before an attempt counts as a success, so an image that does not
decode is a failure of that attempt: UPSTREAM_INVALID, the routing-policy row "a body that fails to
decode" (no retry, fall back, 502 `upstream_error` at the end) — not a 500 after the attempt was
recorded `ok`. What is checked, cheapest first:

    extra images (more than the call asked for)   dropped before anything is decoded
    header size over the pixel cap                refused before any pixel is decoded
    PNG that goes out unchanged                   framing + the whole zlib stream inflated, dropped
                                                  as it comes (imaging.prove_png_framing)
    a JPEG with less scan data than its header    "truncated image" (imaging.check_jpeg_scan):
      promises                                    libjpeg would fill the missing blocks with grey
    JPEG/WebP that go out unchanged               decoded once (imaging.prove_decodable)
    bytes that must change (format, metadata)     the transcode decodes them: that is the proof

The pixel cap follows what the request asked for (PIXEL_MARGIN times its size, at least
MIN_PIXEL_CAP), so a small compressed "decompression bomb" cannot cost gigabytes, whatever the
process-wide Pillow limit says. All decoding runs in imaging's bounded pool.
"""

from __future__ import annotations

import asyncio
import binascii

from gateway import imaging, sizing
from gateway.b64 import b64decode
from gateway.canonical import ImageRequest, OutputFormat, OutputType, ProviderImage, ProviderResult
from gateway.errors import FailureClass, ProviderError

PIXEL_MARGIN = 4  # providers snap sizes up (and aspect-only ones pick their own): room for that
# Floor for size-less or small requests: models pick their own size (flux ultra ~4.2 MP, A1111
# hires fix upscales 2-2.5x), so the floor leaves room; 16 MP RGBA is 64 MiB per decoding thread.
MIN_PIXEL_CAP = 4096 * 4096
INLINE_MAX_CHUNKS = 256  # a passthrough PNG proven on the event loop walks at most this many chunks


class CheckedImage(ProviderImage, frozen=True, kw_only=True):
    """An image proven to decode, in the requested format: `data`, or the provider's base64 text
    in `b64` when a clean PNG passes through as a data URL without being re-encoded."""

    format: OutputFormat
    width: int
    height: int

    @property
    def info(self) -> imaging.ImageInfo:
        return imaging.ImageInfo(self.format, self.width, self.height)


def _passthrough(
    image: ProviderImage, req: ImageRequest, max_pixels: int, *, max_chunks: int | None = None
) -> CheckedImage | None:
    """A clean PNG wanted as a PNG data URL, proven from its framing (imaging.prove_png_framing) and
    kept as the provider's base64 text; None when the image takes the decoding path (or, with
    `max_chunks`, when its walk is longer: the caller then runs `_check` in the pool)."""
    if image.b64 is None or req.embed_exif_metadata or req.output_type is not OutputType.DATA_URL:
        return None
    try:
        walked = imaging.inspect_base64_walk(image.b64, max_chunks)
    except imaging.TooManyChunks:
        return None
    if walked is None or walked[0].format is not req.output_format:
        return None
    passed, chunks = walked
    # One SIMD decode of the whole text (0.14 ms for 2 MB) checks its every character against the
    # base64 alphabet and gives the inflate plain bytes to read.
    imaging.prove_png_framing(*imaging.bytes_reader(b64decode(image.b64)), max_pixels, chunks)
    return CheckedImage(
        b64=image.b64, b64_ascii=image.b64_ascii, seed=image.seed,
        format=passed.format, width=passed.width, height=passed.height,
    )  # fmt: skip


def pixel_cap(req: ImageRequest) -> int:
    """The most decoded pixels an image for `req` may have."""
    width, height = sizing.requested_size(req) or (sizing.BASE_LONG_EDGE, sizing.BASE_LONG_EDGE)
    return min(imaging.MAX_PIXELS, max(MIN_PIXEL_CAP, PIXEL_MARGIN * width * height))


async def check_result(provider: str, req: ImageRequest, result: ProviderResult) -> ProviderResult:
    """The result with its images checked; undecodable ones dropped (with a warning), and an
    UPSTREAM_INVALID ProviderError when none is left."""
    if not result.images:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "provider returned no image")
    warnings = list(result.warnings)
    wanted = result.images[: req.n]
    if len(result.images) > req.n:
        warnings.append(f"{provider} returned {len(result.images)} images for {req.n}; extra ones dropped")
    outcomes = await asyncio.gather(*(_checked_or_error(provider, image, req) for image in wanted))
    images = [o for o in outcomes if isinstance(o, CheckedImage)]
    failures = [o for o in outcomes if isinstance(o, ProviderError)]
    if not images:
        raise failures[0]
    if failures:
        warnings.append(f"{len(failures)} of {len(wanted)} images from {provider} did not decode; dropped")
    return ProviderResult(images=list(images), raw=result.raw, warnings=warnings)


async def check_image(provider: str, image: ProviderImage, req: ImageRequest) -> CheckedImage:
    """One image proven and finished (UPSTREAM_INVALID ProviderError if it cannot be)."""
    if isinstance(image, CheckedImage):
        return image
    try:
        # A PNG passing through is proven from a bounded walk of its framing, cheaper on the loop
        # than the hop to the image pool (~10 % of a request's CPU); a long walk goes to the pool.
        inline = _passthrough(image, req, pixel_cap(req), max_chunks=INLINE_MAX_CHUNKS)
        if inline is not None:
            return inline
        return await imaging.off_loop(_check, image, req, pixel_cap(req))
    except (imaging.NotAnImage, binascii.Error, ValueError) as exc:
        message = f"{provider} returned an image that does not decode ({exc})"
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, message) from None


async def _checked_or_error(
    provider: str, image: ProviderImage, req: ImageRequest
) -> CheckedImage | ProviderError:
    try:
        return await check_image(provider, image, req)
    except ProviderError as exc:
        return exc


def _check(image: ProviderImage, req: ImageRequest, max_pixels: int) -> CheckedImage:
    """(In the image pool.) A clean PNG wanted as a PNG data URL keeps the provider's base64 text:
    its chunk headers give the size and the framing proof, nothing is decoded or re-encoded."""
    passed = _passthrough(image, req, max_pixels)
    if passed is not None:
        return passed
    embed = req.prompt if req.embed_exif_metadata else None
    target = req.output_format
    data, info = imaging.finish(image.image_bytes(), target, embed_prompt=embed, max_pixels=max_pixels)
    return CheckedImage(data=data, seed=image.seed, format=info.format, width=info.width, height=info.height)
