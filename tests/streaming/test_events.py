"""SSE framing, checked with httpx-sse's own line decoder."""

from __future__ import annotations

from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from gateway.schemas import ErrorDetail, ErrorResponse
from gateway.streaming.events import HEARTBEAT, PartialImageEvent, ProgressEvent, StreamEvent, frame


def decode(raw: bytes) -> list[tuple[str, str, str]]:
    decoder = SSEDecoder()
    out = []
    for line in SSELineDecoder().decode(raw.decode()):
        event = decoder.decode(line)
        if event is not None:
            out.append((event.id, event.event, event.data))
    return out


def test_frames_and_heartbeats_decode_independently() -> None:
    raw = (
        frame(1, StreamEvent("progress", ProgressEvent(index=0, step=2, total_steps=None)))
        + HEARTBEAT
        + frame(2, StreamEvent("partial_image", PartialImageEvent(index=1, data_url="data:image/png;base64,AA==")))
        + frame(3, StreamEvent("error", ErrorResponse(error=ErrorDetail(code="upstream_error", message="a\nb"))))
    )
    assert decode(raw) == [
        ("1", "progress", '{"index":0,"step":2,"total_steps":null}'),
        ("2", "partial_image", '{"index":1,"data_url":"data:image/png;base64,AA=="}'),
        ("3", "error", '{"error":{"code":"upstream_error","message":"a\\nb"}}'),
    ]


def test_only_completed_and_error_are_terminal() -> None:
    progress = StreamEvent("progress", ProgressEvent(index=0, step=0, total_steps=1))
    error = StreamEvent("error", ErrorResponse(error=ErrorDetail(code="x", message="y")))
    assert (progress.terminal, error.terminal) == (False, True)
