"""Edit inputs (spec/image-edit.md "image source"): data URLs and https URLs -> checked `InputImage`s.

Every rule is checked before any provider work, and a refusal is 400 `invalid_request` naming the
input (`images[2]`, `mask`) and the rule:

    data URL    `data:image/<png|jpeg|webp>;base64,...`; size judged from the base64 length before
                decoding; the declared type must be what the bytes are (the bytes decide)
    URL         https only, fetched with the provider-download GET (gateway/upstream/downloads.py)
                under a pinned-address policy: names resolving to private, loopback, link-local or
                metadata addresses refused, the resolved address used for the connection, each
                redirect re-checked, a byte cap and a timeout
    every image magic bytes (png/jpeg/webp), width x height read from the header (never decoded
                for the pixel cap), then proven to decode (in the bounded image pool)
    mask        the size of images[0]
    totals      across every input and the mask: bytes (`server.edit.max_total_bytes`; data URLs
                judged before decoding, URL fetches counted as the bytes arrive and stopped once
                the running total passes it) and header pixels (`max_total_pixels`, before any
                decode); the input that crosses the budget is named

Two phases, so an unauthenticated request costs no network and no pixel decoding: `parse_inputs`
(before admission: data URLs decoded, headers read) and `load_inputs` (after: URLs fetched, every
image proven to decode, the mask compared with the base image).
"""

from __future__ import annotations

import asyncio
import binascii
import io
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import msgspec
from PIL import Image

from gateway import imaging, upstream
from gateway.b64 import b64decode
from gateway.canonical import InputImage, OutputFormat
from gateway.config.edit import EditInputsConfig
from gateway.errors import InvalidRequest, ProviderError
from gateway.upstream.downloads import Resolver, system_resolve

_DECLARED = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "webp"}
MASK = "mask"
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class ImageSource(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An image source on the wire: exactly one of a data URL (`b64`) or an https `url`."""

    b64: Annotated[str, msgspec.Meta(description="data:image/png;base64,... (png, jpeg or webp)")] | None = (
        None
    )
    url: (
        Annotated[str, msgspec.Meta(max_length=8192, description="https URL fetched by the gateway")] | None
    ) = None


@dataclass(frozen=True, slots=True)
class UrlFetch:
    """How URL inputs are fetched. The defaults are production's; tests (only) inject a transport
    and a resolver to serve fake https hosts at public-looking addresses."""

    transport: httpx.AsyncBaseTransport | None = None
    resolve: Resolver = field(default=system_resolve)


@dataclass(frozen=True, slots=True)
class Pending:
    """An input after `parse_inputs`: checked bytes, or a URL still to fetch."""

    param: str
    image: InputImage | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedInputs:
    images: list[Pending]
    mask: Pending | None

    @property
    def count(self) -> int:
        return len(self.images)


class Totals:
    """Running sums over one request's inputs, in input order (images, then the mask): the first
    input that takes a sum past its `server.edit` budget is refused, by name."""

    def __init__(self, limits: EditInputsConfig) -> None:
        self.limits = limits
        self.bytes = 0
        self.pixels = 0

    def check_bytes(self, size: int, param: str) -> None:
        """Refuse (without counting) if `size` more bytes would pass the budget."""
        cap = self.limits.max_total_bytes
        if self.bytes + size > cap:
            raise InvalidRequest(
                f"{param} takes the edit inputs past {cap} bytes in total (server.edit.max_total_bytes)",
                param=param,
            )

    def add_bytes(self, size: int, param: str) -> None:
        self.check_bytes(size, param)
        self.bytes += size

    def add_pixels(self, image: InputImage, param: str) -> None:
        cap = self.limits.max_total_pixels
        self.pixels += image.width * image.height
        if self.pixels > cap:
            raise InvalidRequest(
                f"{param} ({image.width}x{image.height}) takes the edit inputs past {cap} pixels in total "
                "(server.edit.max_total_pixels)",
                param=param,
            )


def parse_inputs(
    images: list[ImageSource], mask: ImageSource | None, limits: EditInputsConfig
) -> ParsedInputs:
    """Phase one (no I/O): each source well-formed; data URLs decoded and their headers checked,
    their bytes and header pixels counted against the request's totals."""
    totals = Totals(limits)
    pending = [_parse(source, f"images[{i}]", limits, totals) for i, source in enumerate(images)]
    parsed = ParsedInputs(pending, None if mask is None else _parse(mask, MASK, limits, totals))
    base, mask_input = parsed.images[0].image, parsed.mask.image if parsed.mask else None
    if base is not None and mask_input is not None:
        check_mask(base, mask_input)
    return parsed


async def load_inputs(
    parsed: ParsedInputs, limits: EditInputsConfig, fetch: UrlFetch | None = None
) -> tuple[tuple[InputImage, ...], InputImage | None]:
    """Phase two: URL inputs fetched (concurrently), every input proven to decode, the mask checked."""
    everything = [*parsed.images, *([parsed.mask] if parsed.mask else [])]
    totals = Totals(limits)  # what is in hand (data URLs, files), then what URLs bring as it arrives
    for pending in everything:
        if pending.image is not None:
            totals.add_bytes(len(pending.image.data), pending.param)
    fetched: dict[str, InputImage] = {}
    remote = [p for p in everything if p.image is None and p.url is not None]
    if remote:
        fetch = fetch or UrlFetch()
        async with httpx.AsyncClient(transport=fetch.transport, trust_env=False) as client:
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = {
                        p.param: group.create_task(_fetch(client, p, limits, fetch, totals)) for p in remote
                    }
            except BaseExceptionGroup as failed:
                refused = [e for e in failed.exceptions if isinstance(e, InvalidRequest)]
                if len(refused) < len(failed.exceptions):
                    raise
                order = [p.param for p in everything]  # the first failing input, in input order
                raise min(
                    refused, key=lambda e: order.index(e.param) if e.param in order else len(order)
                ) from None
        fetched = {param: task.result() for param, task in tasks.items()}
    loaded = [p.image or fetched[p.param] for p in everything]
    pixels = Totals(limits)  # every header is read: the whole request's pixels, before any decode
    for pending, image in zip(everything, loaded, strict=True):
        pixels.add_pixels(image, pending.param)
    for pending, image in zip(everything, loaded, strict=True):
        await _prove(image, pending.param)
    images = tuple(loaded[: parsed.count])
    mask = loaded[parsed.count] if parsed.mask else None
    if mask is not None:
        check_mask(images[0], mask)
    return images, mask


def check_mask(base: InputImage, mask: InputImage) -> None:
    if (mask.width, mask.height) != (base.width, base.height):
        raise InvalidRequest(
            f"mask is {mask.width}x{mask.height} pixels; it must be the size of images[0] "
            f"({base.width}x{base.height})",
            param="mask",
        )


def check_image(
    data: bytes, param: str, limits: EditInputsConfig, *, declared: str | None = None
) -> InputImage:
    """Type from the magic bytes, size from the header only (no pixel is decoded here)."""
    if len(data) > limits.max_image_bytes:
        raise InvalidRequest(f"{param} is larger than {limits.max_image_bytes} bytes", param=param)
    fmt = imaging.sniff_format(data)
    if fmt is None:
        raise InvalidRequest(f"{param} is not a PNG, JPEG or WebP image", param=param)
    if declared is not None and declared != fmt.value:
        raise InvalidRequest(
            f"{param} is declared as image/{declared} but its bytes are a {fmt.value.upper()} image",
            param=param,
        )
    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: reads the header, decodes nothing
            width, height = image.size
            alpha = image.mode in _ALPHA_MODES or "transparency" in image.info  # tRNS is read before IDAT
    except Image.DecompressionBombError:
        raise InvalidRequest(
            f"{param} has more pixels than {limits.max_image_side}x{limits.max_image_side}", param=param
        ) from None
    except _HEADER_ERRORS:
        raise InvalidRequest(
            f"{param} is not a readable {fmt.value} image (bad header)", param=param
        ) from None
    side = limits.max_image_side
    if width > side or height > side:
        raise InvalidRequest(f"{param} is {width}x{height} pixels; the limit is {side}x{side}", param=param)
    if width < 1 or height < 1:
        raise InvalidRequest(f"{param} has no pixels", param=param)
    if param == MASK and not alpha:
        raise InvalidRequest(
            "mask has no alpha channel: its transparent pixels (alpha 0) mark the area to edit", param=MASK
        )
    return InputImage(data=data, media_type=fmt.media_type, width=width, height=height)


def _parse(source: ImageSource, param: str, limits: EditInputsConfig, totals: Totals) -> Pending:
    if (source.b64 is None) == (source.url is None):
        raise InvalidRequest(f"{param} must have exactly one of `b64` (a data URL) or `url`", param=param)
    if source.url is not None:
        if not source.url.lower().startswith("https://"):
            raise InvalidRequest(f"{param} url must be https", param=param)
        return Pending(param, url=source.url)
    assert source.b64 is not None
    image = _data_url(source.b64, param, limits, totals)
    totals.add_pixels(image, param)  # header pixels, before anything is decoded
    return Pending(param, image=image)


def _data_url(text: str, param: str, limits: EditInputsConfig, totals: Totals) -> InputImage:
    head, comma, payload = text.partition(",")
    head = head[:256].lower()  # the scheme, the type and `;base64` are case-insensitive (RFC 2397)
    if not head.startswith("data:") or not comma or not head.endswith(";base64"):
        raise InvalidRequest(f"{param} b64 must be a data URL: data:image/png;base64,...", param=param)
    media = head[len("data:") :].split(";", 1)[0].strip().lower()
    declared = _DECLARED.get(media)
    if declared is None:
        raise InvalidRequest(
            f"{param} data URL type {media!r} is not image/png, image/jpeg or image/webp", param=param
        )
    if len(payload) // 4 * 3 > limits.max_image_bytes + 2:  # judged before decoding
        raise InvalidRequest(f"{param} is larger than {limits.max_image_bytes} bytes", param=param)
    totals.check_bytes(max(0, len(payload) // 4 * 3 - 2), param)  # judged before decoding too
    try:
        data = b64decode(payload)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{param} data URL is not valid base64", param=param) from None
    totals.add_bytes(len(data), param)
    return check_image(data, param, limits, declared=declared)


async def _fetch(
    client: httpx.AsyncClient, pending: Pending, limits: EditInputsConfig, fetch: UrlFetch, totals: Totals
) -> InputImage:
    assert pending.url is not None

    def arrived(size: int) -> None:  # shared by the concurrent fetches: the first to pass stops
        totals.add_bytes(size, pending.param)

    policy = upstream.DownloadPolicy(
        allowed_hosts=("*",),
        max_bytes=limits.max_image_bytes,
        timeout=limits.url_timeout_seconds,
        max_redirects=limits.url_max_redirects,
        pin_address=True,
        resolve=fetch.resolve,
        on_bytes=arrived,
    )
    try:
        data = await upstream.download(client, pending.param, pending.url, policy)
    except ProviderError as exc:
        raise InvalidRequest(exc.message, param=pending.param) from None
    return check_image(data, pending.param, limits)


async def _prove(image: InputImage, param: str) -> None:
    try:
        await imaging.off_loop(
            imaging.prove_decodable, image.data, OutputFormat(image.media_type.split("/")[1])
        )
    except imaging.NotAnImage as exc:
        raise InvalidRequest(f"{param} does not decode: {exc}", param=param) from None
