"""fal and Replicate report progress: a streamed request through a real server shows it as
progress events before the image (the providers polled with `?logs=1` / their logs read)."""

from __future__ import annotations

import httpx

from gateway.schemas import GenerateResponse
from tests.fakes.fal import FakeFal
from tests.fakes.replicate import FakeReplicate
from tests.streaming.support import check_stream, collect, live_server, summary

ROUTING = """
providers:
  fal: {adapter: fal, settings: {api_key: fal-SECRET-key, poll_interval_seconds: 0}}
  replicate: {adapter: replicate, settings: {api_key: r8-SECRET-key, poll_interval_seconds: 0}}
models:
  flux-dev: {deployments: [{provider: fal, model: fal-ai/flux/dev}]}
  flux-schnell: {deployments: [{provider: replicate, model: black-forest-labs/flux-schnell}]}
auth: {enabled: false}
"""
BODY = {"prompt": "a red fox in snow", "stream": True, "seed": 3}


async def test_fal_progress_is_streamed() -> None:
    fake = FakeFal(pending=3)
    async with live_server(ROUTING, httpx.AsyncClient(transport=fake.transport())) as live:
        events = await collect(live.client, {**BODY, "model": "flux-dev"})
    assert summary(events) == [
        ("progress", 0, 50, 100, None),
        ("progress", 0, 100, 100, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    assert isinstance(check_stream(events), GenerateResponse)
    assert "fal-SECRET" not in "".join(e.data for e in events)


async def test_replicate_progress_is_streamed() -> None:
    fake = FakeReplicate(held=3)
    async with live_server(ROUTING, httpx.AsyncClient(transport=fake.transport())) as live:
        events = await collect(live.client, {**BODY, "model": "flux-schnell"})
    assert summary(events) == [
        ("progress", 0, 50, 100, None),
        ("progress", 0, 100, 100, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    assert isinstance(check_stream(events), GenerateResponse)
