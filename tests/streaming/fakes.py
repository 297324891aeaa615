"""Streaming provider fakes for httpx.MockTransport (async handlers, streamed bodies), fed by the
provider fixtures. Each records what upstream work happened, so tests can assert it stopped."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.adapters.fakes import distinct_png

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "streaming"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


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


class StreamingOpenAI:
    """POST /v1/images/generations with `stream: true`: the fixture's SSE events, per-call behaviour.

    mode(call_number) -> "ok" | "error_event" (a partial, then an error object) | "hang" (a partial,
    then nothing until the client goes away) | "drop" (a partial, then a connection reset) |
    "http_500" (an error status before any event).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.closed = 0  # response bodies closed by the client (finished or abandoned)

    @property
    def calls(self) -> int:
        return len(self.bodies)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/images/generations")
        self.bodies.append(json.loads(request.content))
        mode = self.mode(self.calls)
        if mode == "http_500":
            return httpx.Response(500, json={"error": {"message": "The server had an error", "type": "server_error"}})
        events = fixture("openai/stream_events.json")
        events[-1]["b64_json"] = base64.b64encode(distinct_png(self.calls)).decode()
        if mode == "error_event":
            events = [events[0], {"error": {"code": "server_error", "message": "stream failed", "type": "server_error"}}]
        elif mode in ("hang", "drop"):
            events = events[:1]
        chunks = [f"event: {e.get('type', 'error')}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
        body = Body(chunks, hang=mode == "hang", drop=mode == "drop", on_close=self._closed)
        return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, stream=body)

    def _closed(self) -> None:
        self.closed += 1
