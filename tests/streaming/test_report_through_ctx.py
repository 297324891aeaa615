"""Progress through `ctx.report` on the streamed path: `stream_max_n`, broken streams, junk previews."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

import httpx
import pytest

from adapters.mock import render
from adapters.registry import registered
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    PreviewImage,
    ProgressUpdate,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError
from tests.streaming.support import check_stream, collect, live_server, summary


class ScriptedStreamer:
    """Streams one image per call (max_n 4, stream_max_n 1); `settings.mode` picks a misbehaviour."""

    kind: ClassVar[str] = "test-scripted"

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self.mode = str(settings.get("mode", "ok"))
        self.stream_calls: list[int] = []

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities(max_n=4, stream_max_n=1, streaming=True)

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        assert ctx.report is not None, "a streamed request must offer ctx.report"
        self.stream_calls.append(req.n)
        ctx.report(ProgressUpdate(step=1, total_steps=None, index=0))
        ctx.report(PreviewImage(data=b"not an image"))  # dropped: previews are advisory
        ctx.report(PreviewImage(index=5, data=render("p", 0, 8, 8, OutputFormat.PNG)))  # no such image: dropped
        if self.mode == "no-result":  # the provider's stream ended without the final image
            raise ProviderError("silent", FailureClass.UPSTREAM_INVALID, "stream ended without an image")
        data = render(req.prompt, req.seed or 0, 64, 64, OutputFormat.PNG)
        return ProviderResult(images=[ProviderImage(data=data, seed=req.seed)] * req.n, raw={})

    async def aclose(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _test_scripted_kind() -> Iterator[None]:
    """The `test-scripted` adapter kind, for this module's tests only (not registered at import time)."""
    with registered("test-scripted", ScriptedStreamer):
        yield


ROUTING = """
providers:
  scripted: {adapter: test-scripted}
  silent: {adapter: test-scripted, settings: {mode: no-result}}
models:
  scripted-image: {deployments: [{provider: scripted, model: s1}]}
  silent-first: {deployments: [{provider: silent, model: s1}, {provider: scripted, model: s1}]}
auth: {enabled: false}
"""


async def test_stream_max_n_fans_out_one_call_per_image() -> None:
    async with live_server(ROUTING) as live:
        events = await collect(live.client, {"model": "scripted-image", "prompt": "x", "n": 3, "seed": 1, "stream": True})
        adapter = live.adapter("scripted")
    assert isinstance(adapter, ScriptedStreamer)
    assert adapter.stream_calls == [1, 1, 1]
    check_stream(events)
    steps = summary(events)
    assert sorted(s for s in steps if s[0] == "progress") == [("progress", i, 1, None, None) for i in range(3)]
    assert [s for s in steps if s[0] != "progress"] == [
        ("image", 0, "png"),
        ("image", 1, "png"),
        ("image", 2, "png"),
        ("completed", "completed", 3),
    ]


async def test_stream_without_result_is_upstream_invalid_and_falls_back() -> None:
    async with live_server(ROUTING) as live:
        events = await collect(live.client, {"model": "silent-first", "prompt": "x", "stream": True})
    assert summary(events) == [
        ("progress", 0, 1, None, None),
        ("progress", 0, 0, None, "scripted"),
        ("progress", 0, 1, None, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    response = check_stream(events)
    assert [a.outcome for a in response.provider_metadata.attempts] == ["upstream_invalid", "ok"]  # type: ignore[union-attr]
