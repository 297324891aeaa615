"""Helpers for streaming adapters whose provider reports progress on the side of the main call.

`with_updates` runs an adapter's ordinary call as a task that reports updates through a callback
(BFL's polls, a progress poller), and turns that into the iterator `generate_stream` returns:
updates as they come, then the call's ProviderResult (or its ProviderError). Closing the iterator
or cancelling its consumer cancels the call, so the provider request or polling loop stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine

from gateway.canonical import PreviewImage, ProgressUpdate, ProviderResult, StreamUpdate

Update = ProgressUpdate | PreviewImage
Report = Callable[[Update], None]


async def with_updates(
    call: Callable[[Report], Coroutine[None, None, ProviderResult]],
) -> AsyncIterator[StreamUpdate]:
    queue: asyncio.Queue[Update] = asyncio.Queue()
    task = asyncio.ensure_future(call(queue.put_nowait))
    try:
        while not task.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        while not queue.empty():
            yield queue.get_nowait()
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def progress_fraction(fraction: float, *, total_steps: int = 100) -> ProgressUpdate:
    """A provider's 0..1 progress as steps out of `total_steps` (BFL reports a fraction)."""
    clamped = min(1.0, max(0.0, fraction))
    return ProgressUpdate(step=round(clamped * total_steps), total_steps=total_steps)
