"""`stream: true` on /v1/images/generations and /v1/images/edits: OpenAI's image events, in the framing the official SDK
parses (openai/_streaming.py: `event:` + one JSON `data:` line whose `type` names the event).

    image_generation.partial_image  a provider preview (when the provider sends any)
    image_generation.completed      one per finished image; the stream ends after the last one
    (image_edit.partial_image / image_edit.completed for an edit, as OpenAI names them)
    error                           {"error": {...}} (the SDK raises APIError), then the end

The queue, heartbeats and cancel-on-disconnect are the canonical stream's (gateway/streaming).
"""

from __future__ import annotations

import logging
import time

import msgspec
from litestar.response import Stream

from gateway import imaging
from gateway.api.openai_errors import OpenAIError, detail
from gateway.b64 import b64encode
from gateway.canonical import PreviewImage, ProgressUpdate
from gateway.config.cost import format_usd
from gateway.errors import GatewayError, ProviderError
from gateway.generation import Job, Operation, run
from gateway.routing.executor import Router, ShardOutcome
from gateway.routing.plan import Shard
from gateway.runtime import Runtime
from gateway.streaming.events import StreamEvent
from gateway.streaming.response import sse_response
from gateway.streaming.sink import Emit

log = logging.getLogger("imagegate.streaming")
PARTIAL = "image_generation.partial_image"
COMPLETED = "image_generation.completed"
EDIT_PARTIAL = "image_edit.partial_image"
EDIT_COMPLETED = "image_edit.completed"


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, int] = msgspec.field(
        default_factory=lambda: {"image_tokens": 0, "text_tokens": 0}
    )
    cost_usd: str | None = None  # the request's cost (docs/cost.md), on the last image event


class ImageEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: str
    b64_json: str
    created_at: int
    size: str
    quality: str
    background: str
    output_format: str
    partial_image_index: int | None = None
    usage: Usage | None = None


class _PreviewSink:
    """Forwards provider previews as partial images (at most `limit`); the rest of the executor's
    events have no OpenAI counterpart."""

    def __init__(self, emit: Emit, kind: str, limit: int, quality: str, background: str) -> None:
        self._emit, self._kind, self._left = emit, kind, limit
        self._quality, self._background = quality, background
        self._sent = 0

    def attempt(self, shard: Shard, provider: str) -> None:
        pass

    def failed(self, shard: Shard, error: ProviderError) -> None:
        pass

    def update(self, shard: Shard, update: ProgressUpdate | PreviewImage) -> None:
        if isinstance(update, ProgressUpdate) or self._left <= 0:
            return
        fmt = imaging.sniff_format(update.data)
        if fmt is None:
            return  # previews are advisory: an unreadable one is dropped
        try:
            info = imaging.inspect(update.data)
        except Exception:
            return
        size = f"{info.width}x{info.height}"
        event = ImageEvent(
            type=self._kind, b64_json=b64encode(update.data), created_at=int(time.time()),
            size=size, quality=self._quality, background=self._background, output_format=fmt.value,
            partial_image_index=self._sent,
        )
        self._left -= 1
        self._sent += 1
        self._emit(StreamEvent(self._kind, event))

    async def shard_done(self, shard: Shard, outcomes: list[ShardOutcome]) -> None:
        pass


def openai_stream(
    runtime: Runtime, job: Job, *, router: Router, partial_images: int, quality: str, background: str
) -> Stream:
    partial, completed = (EDIT_PARTIAL, EDIT_COMPLETED) if job.operation is Operation.EDIT else (PARTIAL, COMPLETED)

    async def producer(emit: Emit) -> None:
        sink = _PreviewSink(emit, partial, partial_images, quality, background)
        try:
            result = await run(runtime, job, router=router, sink=sink)
        except GatewayError as exc:
            emit(_error(exc.status_code, exc.error_code, exc.message, exc.param))
            return
        except Exception:
            log.exception("streamed request %s failed", job.request_id)
            emit(_error(500, "internal_error", "internal error", None))
            return
        for position, image in enumerate(result.images):
            b64 = image.b64 if image.b64 is not None else b64encode(image.data)
            event = ImageEvent(
                type=completed, b64_json=b64, created_at=result.created,
                size=f"{image.info.width}x{image.info.height}", quality=quality, background=background,
                output_format=image.info.format.value,
                usage=Usage(cost_usd=format_usd(result.cost.micro if result.cost else 0))
                if position == len(result.images) - 1
                else Usage(),
            )
            emit(StreamEvent(completed, event, last=position == len(result.images) - 1))

    server = runtime.config.server
    return sse_response(
        producer,
        heartbeat_seconds=server.stream_heartbeat_seconds,
        max_buffered_events=server.stream_max_buffered_events,
    )


def _error(status: int, code: str, message: str, param: str | None) -> StreamEvent:
    return StreamEvent("error", OpenAIError(detail(status, code, message, param)))
