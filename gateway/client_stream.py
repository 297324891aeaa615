"""The client side of `stream: true`: read the SSE answer and draw a progress bar on a terminal.

Used by `imagegate generate --stream`; see docs/streaming.md for the event grammar.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, TextIO

import httpx
import msgspec

from adapters.sse import SSEDecoder

BAR_WIDTH = 30


class ProgressBar:
    """One line, redrawn in place: overall progress over `n` images, and how many are done."""

    def __init__(self, n: int, out: TextIO) -> None:
        self._done: list[float] = [0.0] * max(1, n)
        self._out = out
        self._last = ""

    def update(self, event: str, data: dict[str, Any]) -> None:
        index = data.get("index")
        if not isinstance(index, int) or not 0 <= index < len(self._done):
            return
        if event == "image":
            self._done[index] = 1.0
        elif event == "progress" and data.get("total_steps"):
            fraction = min(1.0, data["step"] / data["total_steps"])
            self._done[index] = min(0.99, fraction)  # only the image itself makes it 100%
        self._draw()

    def finish(self) -> None:
        if self._last:
            self._out.write("\n")
            self._out.flush()

    def _draw(self) -> None:
        overall = sum(self._done) / len(self._done)
        filled = int(overall * BAR_WIDTH)  # floors: 100% only once every image has arrived
        images = sum(1 for d in self._done if d >= 1.0)
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {int(overall * 100):3d}%  {images}/{len(self._done)} images"
        if line != self._last:
            self._last = line
            self._out.write("\r" + line)
            self._out.flush()


class StreamFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def read_stream(response: httpx.Response, *, n: int, progress: TextIO | None) -> dict[str, Any]:
    """The `completed` payload of a streamed answer; StreamFailed on an `error` event or a cut stream."""
    bar = ProgressBar(n, progress) if progress is not None else None
    decoder = SSEDecoder()
    try:
        # Line by line as it arrives (never collected first: the bar must move while the stream does);
        # the trailing "" flushes an event the server did not end with a blank line.
        for line in chain(response.iter_lines(), [""]):
            message = decoder.feed(line.rstrip("\r\n"))
            if message is None:
                continue
            data: dict[str, Any] = msgspec.json.decode(message.data)
            if message.event == "completed":
                return data
            if message.event == "error":
                error = data.get("error", {})
                raise StreamFailed(str(error.get("code", "")), str(error.get("message", "")))
            if bar is not None:
                bar.update(message.event, data)
    finally:
        if bar is not None:
            bar.finish()
    raise StreamFailed("stream_ended", "the stream ended without a completed or error event")
