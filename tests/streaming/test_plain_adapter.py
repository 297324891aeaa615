"""A provider without native streaming still streams: `image` and `completed` only."""

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
    ProviderImage,
    ProviderResult,
)
from tests.streaming.support import check_stream, collect, live_server, summary


class PlainAdapter:
    """One JPEG per call, no streaming. Records the requests it saw."""

    kind: ClassVar[str] = "test-plain"

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self.requests: list[ImageRequest] = []

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities(max_n=1, formats=[OutputFormat.JPEG])

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        self.requests.append(req)  # `ctx.report` is offered (a streamed request) and ignored
        data = render(req.prompt, req.seed or 0, 96, 64, OutputFormat.JPEG)
        return ProviderResult(images=[ProviderImage(data=data, seed=req.seed)], raw={"id": "plain"})

    async def aclose(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _test_plain_kind() -> Iterator[None]:
    """The `test-plain` adapter kind, for this module's tests only (not registered at import time)."""
    with registered("test-plain", PlainAdapter):
        yield


ROUTING = """
providers:
  plain: {adapter: test-plain}
models:
  plain-image: {deployments: [{provider: plain, model: plain-v1}]}
auth: {enabled: false}
"""


async def test_plain_adapter_yields_image_and_completed_only() -> None:
    async with live_server(ROUTING) as live:
        events = await collect(live.client, {"model": "plain-image", "prompt": "x", "n": 2, "seed": 3, "stream": True})
        adapter = live.adapter("plain")
    assert summary(events) == [("image", 0, "png"), ("image", 1, "png"), ("completed", "completed", 2)]
    response = check_stream(events)
    assert [image.seed for image in response.images] == [3, 4]  # type: ignore[union-attr]
    # the plain call is the ordinary non-streaming one
    assert isinstance(adapter, PlainAdapter)
    assert [(r.n, r.stream) for r in adapter.requests] == [(1, False), (1, False)]
