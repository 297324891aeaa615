"""Helpers for the streaming tests: a real uvicorn server on an ephemeral loopback port, an
independent SSE parser (httpx-sse) and checks every stream must pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import msgspec
import uvicorn
from httpx_sse import ServerSentEvent, aconnect_sse
from litestar import Litestar

from gateway.app import create_app
from gateway.config import parse_config
from gateway.schemas import ErrorResponse, GenerateResponse, ImageObject
from gateway.settings import Settings

URL = "/api/v1/image/generate"


@dataclass
class Live:
    app: Litestar
    client: httpx.AsyncClient

    def adapter(self, provider: str) -> object:
        return self.app.state.services.runtime.adapters[provider]


@asynccontextmanager
async def live_server(routing_yaml: str, http: httpx.AsyncClient | None = None) -> AsyncIterator[Live]:
    """The app served by uvicorn on 127.0.0.1:<free port>, so streams and disconnects are real."""
    app = create_app(Settings(), config=parse_config(routing_yaml), http=http)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done())
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Live(app, client)
    finally:
        server.should_exit = True
        await task


async def wait_for(condition: Callable[[], bool], *, limit: float = 20.0) -> None:
    """Poll until `condition` holds; `limit` only guards against a hang (it is not a speed check)."""
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.01)


async def collect(client: httpx.AsyncClient, body: dict[str, object]) -> list[ServerSentEvent]:
    """POST a streamed request and parse the whole body with httpx-sse."""
    async with aconnect_sse(client, "POST", URL, json=body) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [event async for event in source.aiter_sse()]


def check_stream(events: list[ServerSentEvent]) -> GenerateResponse | ErrorResponse:
    """What holds for every stream: ids 1..n, exactly one terminal event and it is last; a
    `completed` decodes as the non-streaming response and carries exactly the announced images."""
    assert [event.id for event in events] == [str(i) for i in range(1, len(events) + 1)]
    names = [event.event for event in events]
    assert names.count("completed") + names.count("error") == 1
    assert names[-1] in ("completed", "error")
    assert set(names) <= {"progress", "partial_image", "image", "completed", "error"}
    last = events[-1]
    if last.event == "error":
        assert "image" not in names  # once an image was sent the stream ends with `completed`
        return msgspec.json.decode(last.data, type=ErrorResponse)
    response = msgspec.json.decode(last.data, type=GenerateResponse)
    announced = [msgspec.json.decode(e.data, type=ImageObject) for e in events if e.event == "image"]
    assert response.images == announced
    return response


def summary(events: list[ServerSentEvent]) -> list[tuple[object, ...]]:
    """A compact view of a stream for exact-sequence assertions (image bytes left out)."""
    out: list[tuple[object, ...]] = []
    for event in events:
        data = msgspec.json.decode(event.data)
        if event.event == "progress":
            out.append(("progress", data["index"], data["step"], data["total_steps"], data.get("provider")))
        elif event.event == "partial_image":
            out.append(("partial_image", data["index"], data["data_url"].split(";", 1)[0]))
        elif event.event == "image":
            out.append(("image", data["index"], data["format"]))
        elif event.event == "completed":
            out.append(("completed", data["status"], len(data["images"])))
        else:
            out.append(("error", data["error"]["code"]))
    return out
