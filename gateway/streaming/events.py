"""The SSE wire format of `stream: true` (spec/image-generate.md, Streaming) and its framing.

    stream    := event* (completed | error)
    event     := progress | partial_image | image | heartbeat
    progress       {"index", "step", "total_steps", "attempt"?, "provider"?, "message"?}
    partial_image  {"index", "data_url"}
    image          one ImageObject, exactly as it appears in `completed.images`
    completed      the full GenerateResponse (images included), as the JSON path would answer
    error          the error body {"error": {"code", "message"}}, as the JSON path would answer
    heartbeat      the SSE comment line ": heartbeat" (no id, no event)

Every event carries `id:` 1, 2, 3, … in order; a stream ends after `completed` or `error`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from gateway.schemas import ErrorResponse, GenerateResponse, ImageObject

EventName = Literal["progress", "partial_image", "image", "completed", "error"]
HEARTBEAT = b": heartbeat\n"  # a lone comment line: no blank line, so no parser dispatches an empty event
_ENCODER = msgspec.json.Encoder()


class ProgressEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where an image's generation stands. `step` 0 with `attempt` > 1 announces a retry or fallback."""

    index: int
    step: int
    total_steps: int | None
    attempt: int | None = None
    provider: str | None = None
    message: str | None = None


class PartialImageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A provider preview of image `index` (any format, lower quality); the `image` event supersedes it."""

    index: int
    data_url: str


# msgspec.Struct: another wire's events (the OpenAI codec's) through the same framing and queue.
Payload = ProgressEvent | PartialImageEvent | ImageObject | GenerateResponse | ErrorResponse | msgspec.Struct


@dataclass(frozen=True, slots=True)
class StreamEvent:
    name: EventName | str
    payload: Payload
    last: bool = False  # a terminal event of another wire (whose names are not ours)

    @property
    def terminal(self) -> bool:
        return self.last or self.name in ("completed", "error")


def frame(event_id: int, event: StreamEvent) -> bytes:
    """One SSE message. msgspec's JSON has no raw newlines, so `data:` is always a single line."""
    data = _ENCODER.encode(event.payload)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.name.encode("ascii"), data)
