"""The SSE sink: executor events -> `progress` / `partial_image` / `image` events, then the ending.

`produce` runs the job through the one pipeline (gateway/generation.py) with this sink attached,
so retries, fallback, the deadline and the merge are the JSON path's own. Images are announced in
shard order as soon as every earlier shard has finished, so the index in an `image` event is the
index the same image has in `completed`. Progress and previews are forwarded as they happen; their
`index` is the image's requested slot (it differs from the final index only if an earlier image
failed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway import imaging
from gateway.canonical import PreviewImage, ProgressUpdate
from gateway.errors import FailureClass, GatewayError, ProviderError
from gateway.generation import Job, Result, finished_images, run
from gateway.responders import data_url, generate_response, image_object
from gateway.routing.executor import Router, ShardOutcome
from gateway.routing.plan import Shard
from gateway.runtime import Runtime
from gateway.schemas import ErrorDetail, ErrorResponse, ImageObject
from gateway.streaming.events import PartialImageEvent, ProgressEvent, StreamEvent

log = logging.getLogger("imagegate.streaming")
Emit = Callable[[StreamEvent], None]
After = Callable[[Result], Awaitable[Result]]


async def produce(
    runtime: Runtime, job: Job, router: Router, emit: Emit, sink: SseSink | None = None, after: After | None = None
) -> None:
    """Emit the request's events; the last one is always exactly one `completed` or `error`.
    `sink`: an SseSink of the caller's (the async job runner's records calls as well); `after`:
    what the Result goes through before `completed` (the job runner's result storage)."""
    sink = sink or SseSink(emit)
    try:
        result = await run(runtime, job, router=router, sink=sink)
        if after is not None:
            result = await after(result)
            sink.announced = [image_object(image) for image in result.images]
    except GatewayError as exc:
        final = error_event(exc.error_code, exc.message)
    except Exception:
        log.exception("streamed request %s failed", job.request_id)
        final = error_event("internal_error", "internal error")
    else:
        # Byte-identical to what was announced (a lossy re-encode must not make them differ).
        same = [image.index for image in result.images] == [image.index for image in sink.announced]
        final = StreamEvent("completed", generate_response(result, sink.announced if same else None))
    emit(final)


def error_event(code: str, message: str) -> StreamEvent:
    return StreamEvent("error", ErrorResponse(error=ErrorDetail(code=code, message=message)))


class SseSink:
    """Receives the executor's events (gateway/routing/events.py) for one streamed request."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.announced: list[ImageObject] = []
        self._attempts: dict[int, int] = {}  # planned shard -> calls begun
        self._last: dict[int, tuple[str, FailureClass]] = {}  # planned shard -> last failure
        self._done: dict[int, list[ShardOutcome]] = {}
        self._next = 0  # the next planned shard to announce
        self._announcing = asyncio.Lock()

    def attempt(self, shard: Shard, provider: str) -> None:
        """A new call starts; after a failure, say so (the client sees retries and fallbacks)."""
        count = self._attempts[shard.index] = self._attempts.get(shard.index, 0) + 1
        last = self._last.get(shard.index)
        if last is None:
            return
        failed_provider, failure = last
        action = "retrying" if failed_provider == provider else f"falling back to {provider}"
        message = f"attempt {count - 1} failed ({failure.value} from {failed_provider}); {action}"
        for index in _slots(shard, None):
            progress = ProgressEvent(
                index=index, step=0, total_steps=None, attempt=count, provider=provider, message=message
            )
            self._emit(StreamEvent("progress", progress))

    def failed(self, shard: Shard, error: ProviderError) -> None:
        self._last[shard.index] = (error.provider, error.failure)

    def update(self, shard: Shard, update: ProgressUpdate | PreviewImage) -> None:
        if isinstance(update, ProgressUpdate):
            for index in _slots(shard, update.index):
                progress = ProgressEvent(index=index, step=update.step, total_steps=update.total_steps)
                self._emit(StreamEvent("progress", progress))
            return
        fmt = imaging.sniff_format(update.data)
        if fmt is None or not 0 <= update.index < shard.request.n:
            return  # previews are advisory: an unreadable one is dropped, never fatal
        preview = PartialImageEvent(index=shard.first_image + update.index, data_url=data_url(update.data, fmt))
        self._emit(StreamEvent("partial_image", preview))

    async def shard_done(self, shard: Shard, outcomes: list[ShardOutcome]) -> None:
        """Announce the `image`s of every finished shard whose earlier shards are all announced."""
        self._done[shard.index] = outcomes
        async with self._announcing:
            while self._next in self._done:
                for outcome in self._done.pop(self._next):
                    images = await finished_images(outcome, len(self.announced))
                    for image in images:
                        announced = image_object(image)
                        self.announced.append(announced)
                        self._emit(StreamEvent("image", announced))
                self._next += 1


def _slots(shard: Shard, index: int | None) -> range:
    if index is None:
        return range(shard.first_image, shard.first_image + shard.request.n)
    if not 0 <= index < shard.request.n:
        return range(0)
    return range(shard.first_image + index, shard.first_image + index + 1)
