"""A fast mock of OpenAI's `POST /v1/images/generations` for benchmarks (loopback only).

Raw asyncio HTTP/1.1 with keep-alive (uvloop when installed): the response body is built once at
start-up, so serving a request costs one header parse and one socket write. The image is a real PNG
of random pixels (incompressible, so its size is what you asked for), base64-encoded in `b64_json`
as the real API returns it.

    python bench/mock_openai.py --port 0 --size 100k --latency-ms 0

prints `LISTENING <port>` on stdout once it accepts connections. Any POST is answered with the
image; `GET /health` answers 200. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import random
import sys
import time

from PIL import Image

_SIZES = {"100k": 100 * 1024, "2m": 2 * 1024 * 1024}


def make_png(target_bytes: int, seed: int = 7) -> bytes:
    """A PNG of random RGB pixels whose encoded size is close to (just above) `target_bytes`."""
    side = max(8, int((target_bytes / 3) ** 0.5) + 1)
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def openai_body(png: bytes) -> bytes:
    return json.dumps(
        {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(png).decode("ascii")}],
            "output_format": "png",
            "quality": "medium",
            "size": "1024x1024",
            "usage": {"input_tokens": 23, "output_tokens": 1056, "total_tokens": 1079},
        },
        separators=(",", ":"),
    ).encode()


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "x-request-id: req_mock\r\nopenai-version: 2020-10-01\r\n\r\n"
    )
    return head.encode() + body


class _Upstream(asyncio.Protocol):
    """One connection: parse requests (headers + content-length body), answer each in order.

    With a latency, each answer is written `latency` after its request was read (call_later keeps
    the order, as HTTP/1.1 requires)."""

    def __init__(self, image_response: bytes, latency: float) -> None:
        self._image = image_response
        self._ok = _response("200 OK", b'{"status":"ok"}')
        self._latency = latency
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self._buffer) < end + 4 + length:
                return
            del self._buffer[: end + 4 + length]
            answer = self._ok if head.startswith(b"get ") else self._image
            if self._latency > 0:
                asyncio.get_running_loop().call_later(self._latency, self._write, answer)
            else:
                self._write(answer)

    def _write(self, answer: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(answer)


async def serve(host: str, port: int, size: int, latency_ms: float) -> None:
    body = openai_body(make_png(size))
    image_response = _response("200 OK", body)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Upstream(image_response, latency_ms / 1000.0), host, port, backlog=4096
    )
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"LISTENING {bound} body_bytes={len(body)}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def parse_size(text: str) -> int:
    text = text.lower()
    if text in _SIZES:
        return _SIZES[text]
    if text.endswith("k"):
        return int(text[:-1]) * 1024
    if text.endswith("m"):
        return int(text[:-1]) * 1024 * 1024
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", default="100k", help="PNG size: 100k, 2m, or bytes (default 100k)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("loopback only")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port, parse_size(args.size), args.latency_ms))


if __name__ == "__main__":
    main()
