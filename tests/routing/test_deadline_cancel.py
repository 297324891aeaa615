"""The request deadline bounds retries and fallbacks; a cancelled request leaves no upstream work."""

from __future__ import annotations

import asyncio
import time

import pytest
from litestar.testing import AsyncTestClient

from gateway.api.disconnect import ClientDisconnected, cancel_on_disconnect
from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.routing.helpers import FakeAdapter, router_for, run, runtime_with

SLOW = """
providers:
  slow-a:
    adapter: mock
    settings: {latency_ms: 30000}
    timeouts: {attempt_seconds: 0.2}
    idempotent: true
  slow-b:
    adapter: mock
    settings: {latency_ms: 30000}
    timeouts: {attempt_seconds: 0.2}
    idempotent: true
  hang:
    adapter: mock
    settings: {latency_ms: 30000}
models:
  slow:
    deadline_seconds: 3.0
    deployments:
      - {provider: slow-a, model: a}
      - {provider: slow-b, model: b}
      - {provider: hang, model: h}
retry: {attempts: 2, backoff_base_seconds: 0.02}
fallback: {on_ambiguous: fallback}
auth: {enabled: false}
"""


async def test_slow_upstream_with_retries_and_fallbacks_answers_504_within_deadline() -> None:
    # a and b time out per attempt (0.2 s; idempotent, so retried once each, then fall back);
    # the last deployment hangs until the 3 s request deadline ends everything (generous, so a
    # loaded machine still reaches the fallbacks before it).
    app = create_app(Settings(), config=parse_config(SLOW))
    async with AsyncTestClient(app=app) as client:
        started = time.monotonic()
        response = await client.post("/api/v1/image/generate", json={"model": "slow", "prompt": "a cat"})
        elapsed = time.monotonic() - started
        adapters = app.state.services.runtime.adapters
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 3.0 + 1.0  # deadline + 1 s, the contract's bound
    assert adapters["slow-a"].calls == 2 and adapters["slow-b"].calls >= 1  # retried, then fell back


async def test_cancelling_a_request_cancels_every_upstream_call() -> None:
    routing = """
providers:
  a: {adapter: mock}
models:
  m:
    deployments: [{provider: a, model: a1}]
"""
    a = FakeAdapter("a", max_n=1, delay=60.0)
    runtime = runtime_with(routing, {"a": a})
    task = asyncio.ensure_future(run(runtime, router_for(runtime), n=3))
    while a.calls < 3:  # three shards in flight
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.cancelled == 3
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_client_disconnect_cancels_the_work() -> None:
    disconnect = asyncio.Event()
    started = asyncio.Event()
    cancelled = []

    async def receive() -> dict[str, object]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def work() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "done"

    pending = asyncio.ensure_future(cancel_on_disconnect(receive, work()))  # type: ignore[arg-type]
    await started.wait()
    disconnect.set()
    with pytest.raises(ClientDisconnected):
        await pending
    assert cancelled == [True]


async def test_work_that_finishes_first_is_returned() -> None:
    async def receive() -> dict[str, object]:
        await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    async def work() -> str:
        return "done"

    assert await cancel_on_disconnect(receive, work()) == "done"  # type: ignore[arg-type]
