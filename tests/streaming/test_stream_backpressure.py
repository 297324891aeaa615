"""A stream whose client stops reading holds at most `stream_max_buffered_events` events: one more
and the producer (the generation and its upstream calls) is cancelled and the stream ends."""

from __future__ import annotations

import asyncio

from gateway.streaming import ProgressEvent, StreamEvent, sse_body
from gateway.streaming.sink import Emit


async def test_a_full_buffer_cancels_the_producer_and_ends_the_stream() -> None:
    cancelled = asyncio.Event()

    async def producer(emit: Emit) -> None:
        try:
            for step in range(10):  # faster than anyone reads: nothing is consumed in between
                emit(StreamEvent("progress", ProgressEvent(index=0, step=step, total_steps=10)))
            await asyncio.sleep(60)  # the upstream call, still running
        except asyncio.CancelledError:
            cancelled.set()
            raise

    chunks = [chunk async for chunk in sse_body(producer, heartbeat_seconds=30, max_buffered_events=4)]
    assert await asyncio.wait_for(cancelled.wait(), 5)
    assert len(chunks) == 1 and chunks[0].startswith(b"id: 1\nevent: progress\n")


async def test_a_reader_that_keeps_up_gets_every_event() -> None:
    async def producer(emit: Emit) -> None:
        for step in range(20):
            emit(StreamEvent("progress", ProgressEvent(index=0, step=step, total_steps=20)))
            await asyncio.sleep(0.001)  # a real producer awaits its provider between events
        emit(StreamEvent("error", _error()))

    chunks = [chunk async for chunk in sse_body(producer, heartbeat_seconds=30, max_buffered_events=4)]
    assert len(chunks) == 21 and b"event: error" in chunks[-1]


def _error():  # type: ignore[no-untyped-def]
    from gateway.schemas import ErrorDetail, ErrorResponse

    return ErrorResponse(error=ErrorDetail(code="upstream_error", message="x"))
