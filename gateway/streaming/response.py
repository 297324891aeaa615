"""The `text/event-stream` response: frames events, sends heartbeats, stops work on disconnect.

The producer (gateway/streaming/sink.py `produce`: the one pipeline with the SSE sink attached)
runs as its own task and hands events over through a queue. The body iterator numbers
them (`id:` 1, 2, …), writes a `: heartbeat` comment whenever nothing was sent for
`heartbeat_seconds`, and ends after the terminal event. Litestar's streaming response listens for
`http.disconnect` and cancels the iterator; the iterator then cancels the producer task, which
cancels the executor and the adapter call in flight (closing the provider stream / stopping polls).
A client that stops reading is cut by the HTTP edge (`server.send_timeout_seconds`, gateway/edge.py),
which ends in the same disconnect; meanwhile at most `server.stream_max_buffered_events` wait here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine

from litestar.response import Stream

from gateway.generation import Job
from gateway.metrics import EDGE_REJECTIONS
from gateway.routing.executor import Router
from gateway.runtime import Runtime
from gateway.streaming.events import HEARTBEAT, StreamEvent, frame
from gateway.streaming.sink import Emit, produce

log = logging.getLogger("imagegate.streaming")

Producer = Callable[[Emit], Coroutine[None, None, None]]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def sse_body(
    producer: Producer, *, heartbeat_seconds: float, max_buffered_events: int = 64
) -> AsyncIterator[bytes]:
    # Bounded: while the client does not read, Litestar's send (and so this iterator) is blocked and
    # events pile up here. One event too many means the client cannot keep up: the event is
    # dropped, the producer (and the upstream work) cancelled, and the stream ends at the next chance.
    queue: asyncio.Queue[StreamEvent] = asyncio.Queue(max_buffered_events)
    overflowed = False

    def emit(event: StreamEvent) -> None:
        nonlocal overflowed
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            if not overflowed:
                overflowed = True
                EDGE_REJECTIONS.labels("stream_overflow").inc()
                log.warning("stream closed: the client left %d events unread", max_buffered_events)
            task.cancel()

    task = asyncio.create_task(producer(emit))
    event_id = 0
    try:
        while not overflowed:
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


def sse_response(producer: Producer, *, heartbeat_seconds: float, max_buffered_events: int = 64) -> Stream:
    return Stream(
        sse_body(producer, heartbeat_seconds=heartbeat_seconds, max_buffered_events=max_buffered_events),
        media_type="text/event-stream",
        headers=dict(SSE_HEADERS),
    )


def stream_generation(runtime: Runtime, job: Job, *, router: Router) -> Stream:
    """The SSE response for an admitted `job` (its model resolved: nothing can 404 once streaming)."""

    async def producer(emit: Emit) -> None:
        await produce(runtime, job, router, emit)

    server = runtime.config.server
    return sse_response(
        producer,
        heartbeat_seconds=server.stream_heartbeat_seconds,
        max_buffered_events=server.stream_max_buffered_events,
    )
