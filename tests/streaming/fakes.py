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


class PollingBFL:
    """BFL submit -> polling_url (Pending with rising `progress`, then Ready) -> delivery download.

    task_mode(task_number) -> "ok" | "error" (status Error after the pending polls) | "hang" (the
    poll after the pending ones never answers) | "http_500" (submit fails).
    """

    def __init__(self, task_mode: Callable[[int], str] = lambda task: "ok", *, progress: tuple[float, ...] = (0.25, 0.5)) -> None:
        self.task_mode = task_mode
        self.progress = progress
        self.tasks = 0
        self.polls: dict[str, int] = {}
        self.poll_cancelled = 0
        self.hanging = asyncio.Event()  # set when a "hang" poll starts waiting

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if request.method == "POST" and host == "api.bfl.ai":
            self.tasks += 1
            if self.task_mode(self.tasks) == "http_500":
                return httpx.Response(500, json={"detail": "Internal Server Error"})
            task = f"task-{self.tasks}"
            return httpx.Response(200, json={"id": task, "polling_url": f"https://api.us1.bfl.ai/v1/get_result?id={task}"})
        if host == "api.us1.bfl.ai" and path == "/v1/get_result":
            return await self._poll(request.url.params["id"])
        if host == "delivery-us1.bfl.ai":
            task = int(path.rsplit("-", 1)[1])
            return httpx.Response(200, content=distinct_png(task), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"detail": "Not Found"})

    async def _poll(self, task: str) -> httpx.Response:
        count = self.polls[task] = self.polls.get(task, 0) + 1
        number = int(task.rsplit("-", 1)[1])
        if count <= len(self.progress):
            return httpx.Response(200, json={"id": task, "status": "Pending", "result": None, "progress": self.progress[count - 1]})
        mode = self.task_mode(number)
        if mode == "hang":
            self.hanging.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.poll_cancelled += 1
                raise
        if mode == "error":
            return httpx.Response(200, json={"id": task, "status": "Error", "result": None, "details": {"error": "GPU fault"}})
        ready = fixture("bfl/get_result_ready.json")
        ready["id"] = task
        ready["result"]["sample"] = f"https://delivery-us1.bfl.ai/results/sample-{number}"
        return httpx.Response(200, json=ready)
