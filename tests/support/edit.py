"""Inputs for edit tests: data URLs, masks, a header-only giant PNG, and a fake https web (a
transport plus a resolver) for URL inputs, injected as the edit endpoint's `UrlFetch`."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
from collections.abc import Callable

import httpx
from PIL import Image

from gateway.edit_inputs import UrlFetch
from tests.support.images import png_from

PUBLIC_IP = "93.184.216.34"  # what the fake resolver answers for public names
PRIVATE_NAMES = {"internal.example": "10.0.0.7", "metadata.example": "169.254.169.254"}


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def picture(size: tuple[int, int], color: tuple[int, int, int] = (20, 60, 200), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def mask_png(size: tuple[int, int], edit_box: tuple[int, int, int, int]) -> bytes:
    """Opaque everywhere except `edit_box` (alpha 0: the area to edit)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), edit_box)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR says width x height and whose pixel data is garbage: only a header read
    gives its size; decoding it fails."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return png_from([(b"IHDR", ihdr), (b"IDAT", b"\x78\x9c" + b"\x01" * 64), (b"IEND", b"")])


class FakeWeb:
    """https hosts for URL inputs. Names resolve (through `resolve`) to PUBLIC_IP, except those in
    PRIVATE_NAMES; requests are routed by their Host header, so a test can see the connection
    went to the pinned address. `routes`: "host/path" -> response, "slow" (never answers) or a function of the request."""

    def __init__(self, routes: dict[str, httpx.Response | str | Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.lookups: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.lookups.append(host)
        return [PRIVATE_NAMES.get(host, PUBLIC_IP)]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(f"{request.headers['host']}{request.url.path}")
        if route == "slow":
            await asyncio.Event().wait()
        if callable(route):  # a streamed answer built per request
            return route(request)
        if not isinstance(route, httpx.Response):
            return httpx.Response(404)
        return httpx.Response(route.status_code, headers=route.headers, content=route.content)

    def fetch(self) -> UrlFetch:
        return UrlFetch(transport=httpx.MockTransport(self.handle), resolve=self.resolve)
