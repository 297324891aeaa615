"""The provider-side SSE decoder, against the OpenAI streaming fixture and the spec's edge cases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.sse import SSEMessage, iter_sse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "streaming" / "openai"


async def _lines(text: str) -> AsyncIterator[str]:
    for line in text.splitlines():
        yield line


async def decode(text: str) -> list[SSEMessage]:
    return [message async for message in iter_sse(_lines(text))]


async def test_openai_fixture_decodes_to_the_documented_events() -> None:
    messages = await decode((FIXTURES / "stream_gpt-image-1_partial2.sse").read_text())
    expected = json.loads((FIXTURES / "stream_events.json").read_text())
    assert [m.event for m in messages] == [e["type"] for e in expected]
    assert [json.loads(m.data) for m in messages] == expected


async def test_comments_multiline_data_and_unterminated_last_message() -> None:
    text = ": keep-alive\n\ndata: a\ndata: b\n\nid: 7\nretry: 10\n\nevent: x\ndata: [DONE]"
    assert await decode(text) == [SSEMessage("message", "a\nb"), SSEMessage("x", "[DONE]")]
