"""What every provider fake shares: fixture loading, the injected `Failure`, the recording base
class for `httpx.MockTransport`, and a streamed response body for the streaming flows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.canonical import CallContext
from tests.support.images import distinct_png

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOT_AN_IMAGE = b'{"error": "this is JSON, not an image"}'
SECRET = "sk-test-SECRET-key-0123456789"
PROVIDER_DRAWN_SEED = 3_735_928_559  # what A1111 / BFL may pick themselves: > 2^31-1


def fixture(name: str) -> Any:
    """A recorded body under tests/fixtures/ (streaming ones under `streaming/<provider>/`)."""
    return json.loads((FIXTURES / name).read_text())


def fixture_headers(name: str) -> dict[str, str]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["file"] == name)
    return dict(entry.get("headers", {}))


def ctx(model: str, *, seconds: float = 30.0, options: dict[str, object] | None = None) -> CallContext:
    return CallContext(
        request_id="req-test",
        provider_model=model,
        deadline=time.monotonic() + seconds,
        options=options or {},
    )


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)


@dataclass
class Failure:
    """What the fake does at the generation step instead of succeeding."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    raise_exc: Exception | None = None
    no_image: bool = False
    not_image: bool = False
    malformed: bool = False
    image: bytes | None = None  # the image delivered instead of a good one (truncated, corrupt...)


@dataclass
class Fake:
    failure: Failure | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    calls: int = 0  # generation calls (one per billed job)

    def image(self) -> bytes:
        if self.failure and self.failure.image is not None:
            return self.failure.image
        return NOT_AN_IMAGE if self.failure and self.failure.not_image else distinct_png(self.calls)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.route(request)

    def route(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def fail_generation(self, request: httpx.Request) -> httpx.Response | None:
        """The injected failure for the generation step, if it happens there."""
        failure = self.failure
        if failure is None:
            return None
        if failure.raise_exc is not None:
            raise failure.raise_exc
        if failure.malformed:
            return httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"})
        if failure.status != 200:
            headers = {"content-type": "application/json", **failure.headers}
            return httpx.Response(failure.status, content=failure.body, headers=headers)
        return None


class Body(httpx.AsyncByteStream):
    """A response body sent chunk by chunk; `hang` blocks after the chunks until the reader leaves."""

    def __init__(self, chunks: list[bytes], *, hang: bool = False, drop: bool = False, on_close: Callable[[], None]) -> None:
        self._chunks, self._hang, self._drop, self._on_close = chunks, hang, drop, on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
            await asyncio.sleep(0)
        if self._hang:
            await asyncio.Event().wait()
        if self._drop:
            raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        self._on_close()
