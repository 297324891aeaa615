"""Server-Sent Events from a provider (OpenAI's image streams): lines in, messages out.

A small decoder per the WHATWG rules that matter here: `event:` and `data:` fields (several `data:`
lines join with "\\n"), comment lines starting with ":" ignored, a blank line dispatches, and a
message without data is not dispatched. `id:` and `retry:` are read and dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEMessage:
    event: str  # "message" when the server sent no `event:` field
    data: str


class SSEDecoder:
    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEMessage | None:
        """One line without its terminator; returns a message when `line` is blank and one is due."""
        if not line:
            message = SSEMessage(self._event or "message", "\n".join(self._data)) if self._data else None
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEMessage]:
    """Messages from an async iterable of lines (e.g. `httpx.Response.aiter_lines()`)."""
    decoder = SSEDecoder()
    async for line in lines:
        message = decoder.feed(line.rstrip("\r\n"))
        if message is not None:
            yield message
    final = decoder.feed("")  # a last message the server did not terminate with a blank line
    if final is not None:
        yield final
