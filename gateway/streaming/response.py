"""The `text/event-stream` response: frames events, sends heartbeats, stops work on disconnect.

The producer runs as its own task and hands events over through a queue. The body iterator numbers
them (`id:` 1, 2, …), writes a `: heartbeat` comment whenever nothing was sent for
`heartbeat_seconds`, and ends after the terminal event. Litestar's streaming response listens for
`http.disconnect` and cancels the iterator; the iterator then cancels the producer task, which
cancels the executor and the adapter call in flight (closing the provider stream / stopping polls).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine

from litestar.response import Stream

from gateway.canonical import ImageRequest
from gateway.errors import ModelNotFound
from gateway.routing.executor import Router
from gateway.runtime import Runtime
from gateway.streaming.bridge import Emit
from gateway.streaming.events import HEARTBEAT, StreamEvent, frame
from gateway.streaming.producer import StreamJob, produce

log = logging.getLogger("imagegate.streaming")

Producer = Callable[[Emit], Coroutine[None, None, None]]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def sse_body(producer: Producer, *, heartbeat_seconds: float) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
    task = asyncio.create_task(producer(queue.put_nowait))
    event_id = 0
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), heartbeat_seconds)
            except TimeoutError:
                if task.done() and queue.empty():
                    break  # the producer died without a terminal event (it never should)
                yield HEARTBEAT
                continue
            event_id += 1
            yield frame(event_id, event)
            if event.terminal:
                break
    finally:
        # Client gone (or stream over): stop upstream work. Not awaited: on disconnect this code
        # runs inside a cancelled scope, and the task's own cancellation needs no help from us.
        task.cancel()
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("stream producer failed", exc_info=task.exception())


def sse_response(producer: Producer, *, heartbeat_seconds: float) -> Stream:
    return Stream(
        sse_body(producer, heartbeat_seconds=heartbeat_seconds),
        media_type="text/event-stream",
        headers=dict(SSE_HEADERS),
    )


def stream_generation(
    runtime: Runtime, req: ImageRequest, *, request_id: str, router: Router | None = None
) -> Stream:
    """The SSE response for `req`. An unknown model raises here, before any byte is streamed."""
    resolved = runtime.config.resolve_model(req.model)
    if resolved is None:
        raise ModelNotFound(f"model {req.model!r} is not served here; GET /api/v1/models lists the models")
    slug, model = resolved
    budget = model.deadline_seconds or runtime.config.server.request_deadline_seconds
    job = StreamJob(runtime, req, slug, request_id, time.monotonic() + budget, router)

    async def run(emit: Emit) -> None:
        await produce(job, emit)

    return sse_response(run, heartbeat_seconds=runtime.config.server.stream_heartbeat_seconds)
