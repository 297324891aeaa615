"""BFL (Flux) streaming: progress events from polling; fallback, partial, and disconnect stops polling."""

from __future__ import annotations

import httpx

from gateway.schemas import ErrorResponse, GenerateResponse
from tests.fakes.bfl import PollingBFL
from tests.streaming.support import URL, check_stream, collect, live_server, summary, wait_for

ROUTING = """
providers:
  bfl: {adapter: flux, settings: {api_key: bfl-SECRET-key, poll_interval_seconds: 0}}
  mock: {adapter: mock, settings: {stream_steps: 1, stream_previews: 0}}
models:
  flux-pro: {deployments: [{provider: bfl, model: flux-pro-1.1}]}
  flux-then-mock: {deployments: [{provider: bfl, model: flux-pro-1.1}, {provider: mock, model: mock-v1}]}
auth: {enabled: false}
"""
BODY = {"prompt": "a red fox in snow", "width": 1024, "height": 768, "stream": True}


def http_for(fake: PollingBFL) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))


async def test_success_reports_poll_progress() -> None:
    fake = PollingBFL()
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "flux-pro"})
    assert summary(events) == [
        ("progress", 0, 25, 100, None),
        ("progress", 0, 50, 100, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert "bfl-SECRET" not in "".join(e.data for e in events)
    assert fake.polls == {"task-1": 3}


async def test_failure_after_progress_is_not_resent_and_does_not_fall_back_by_default() -> None:
    """The task reported progress, then failed: work started upstream (spec/routing-policy.md), so
    the call is not re-sent (not idempotent) and `on_ambiguous: fail` (default) ends the request."""
    fake = PollingBFL(lambda task: "error")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "flux-then-mock", "seed": 9})
    assert summary(events)[-1] == ("error", "upstream_timeout")
    assert isinstance(check_stream(events), ErrorResponse)
    assert fake.tasks == 1


async def test_failure_after_progress_falls_back_when_on_ambiguous_allows_it() -> None:
    fake = PollingBFL(lambda task: "error")
    async with live_server(ROUTING + "fallback: {on_ambiguous: fallback}\n", http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "flux-then-mock", "seed": 9})
    steps = summary(events)
    notice = steps.index(("progress", 0, 0, None, "mock"))
    assert steps[:2] == [("progress", 0, 25, 100, None), ("progress", 0, 50, 100, None)]
    assert steps[notice + 1 :] == [
        ("progress", 0, 0, 1, None),
        ("progress", 0, 1, 1, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert response.provider_metadata.attempts[-1].provider == "mock"
    assert fake.tasks == 1  # fell back without re-submitting the task that had started


async def test_failure_after_the_first_image_ends_partial() -> None:
    fake = PollingBFL(lambda task: "ok" if task == 1 else "error")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "flux-pro", "n": 2})
    steps = summary(events)
    assert [s for s in steps if s[0] != "progress"] == [("image", 0, "png"), ("completed", "partial", 1)]
    assert [s for s in steps if s[0] == "progress" and s[1] == 0] == [
        ("progress", 0, 25, 100, None),
        ("progress", 0, 50, 100, None),
    ]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.error is not None


async def test_every_task_failing_ends_with_error() -> None:
    fake = PollingBFL(lambda task: "http_500")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "flux-pro"})
    assert summary(events)[-1] == ("error", "upstream_error")
    assert isinstance(check_stream(events), ErrorResponse)


async def test_client_disconnect_stops_polling() -> None:
    fake = PollingBFL(lambda task: "hang")
    async with live_server(ROUTING, http_for(fake)) as live:
        async with live.client.stream("POST", URL, json={**BODY, "model": "flux-pro"}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    break
            await wait_for(fake.hanging.is_set)  # the third poll is in flight when the client leaves
        await wait_for(lambda: fake.poll_cancelled == 1)
        assert fake.polls == {"task-1": 3}  # the poll in flight was abandoned; no further poll
        assert fake.tasks == 1
