"""Errors before the stream are JSON (auth, rate limit); the deadline still bounds a stream."""

from __future__ import annotations

from pathlib import Path

from adapters.mock import MockAdapter
from gateway.config import BUNDLED_CONFIG
from tests.streaming.support import URL, check_stream, collect, live_server, summary, wait_for

ROUTING = """
providers:
  slow: {adapter: mock, settings: {latency_ms: 600000, stream_steps: 4}}
  mock: {adapter: mock}
models:
  slow-image: {deadline_seconds: 1.0, deployments: [{provider: slow, model: mock-slow}]}
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
limits:
  ip: {rate: 1, period_seconds: 3600, burst: 1}
auth: {enabled: false}
"""
BODY = {"prompt": "a lighthouse", "stream": True}


async def test_deadline_ends_the_stream_with_upstream_timeout() -> None:
    async with live_server(ROUTING) as live:
        events = await collect(live.client, {**BODY, "model": "slow-image"})
        slow = live.adapter("slow")
        assert isinstance(slow, MockAdapter)
        await wait_for(lambda: slow.cancelled == 1)  # the call was stopped, not left running
    # step 0 comes at once (unless a loaded machine let the whole second pass first); 150 s steps never
    assert summary(events)[-1] == ("error", "upstream_timeout")
    assert set(summary(events)[:-1]) <= {("progress", 0, 0, 4, None)}
    check_stream(events)


async def test_rate_limit_is_a_json_429_before_any_stream() -> None:
    async with live_server(ROUTING) as live:
        first = await live.client.post(URL, json={**BODY, "model": "mock-image"})
        second = await live.client.post(URL, json={**BODY, "model": "mock-image"})
        mock = live.adapter("mock")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/event-stream")
    assert second.status_code == 429 and second.headers["content-type"] == "application/json"
    assert second.json()["error"]["code"] == "rate_limited" and "retry-after" in second.headers
    assert isinstance(mock, MockAdapter) and mock.calls == 1


async def test_missing_signature_is_a_json_401_before_any_stream() -> None:
    async with live_server(Path(BUNDLED_CONFIG).read_text()) as live:
        response = await live.client.post(URL, json={**BODY, "model": "mock-image"})
        mock = live.adapter("mock")
    assert response.status_code == 401 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "auth_missing"
    assert isinstance(mock, MockAdapter) and mock.calls == 0
