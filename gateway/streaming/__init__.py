"""`stream: true`: Server-Sent Events for a generation (see events.py for the grammar)."""

from gateway.streaming.events import PartialImageEvent, ProgressEvent, StreamEvent, frame
from gateway.streaming.response import sse_body, stream_generation

__all__ = ["PartialImageEvent", "ProgressEvent", "StreamEvent", "frame", "sse_body", "stream_generation"]
