"""Redis paused (SIGSTOP) and killed under the limiter: bounded answers, the documented degraded
behaviour (per-process limiter, counted), and recovery once Redis is back. Uses its own redis-server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.metrics import DEGRADED_DECISIONS
from gateway.settings import Settings
from tests.limits.test_limits_api import HeaderAuthenticator
from tests.support.app import MOCK_ROUTING, mock_config
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.reliability

LIMITS = """
limits:
  replicas: 1
  account: {rate: 1000, period_seconds: 3600, burst: 1000}
  redis: {timeout_ms: 150, pool_wait_ms: 50, breaker_failures: 3, breaker_open_seconds: 0.5}
"""
BODY = {"model": "mock-image", "prompt": "x"}
BOUND_S = 2.0  # generous: redis-py's defaults take ~7 s against a hung server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port()).start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture
async def app_client(own_redis: RedisServer) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    routing = MOCK_ROUTING.replace(
        "    settings: {max_n: 4}\n", "    settings: {max_n: 4}\n    max_concurrency: 2\n", 1
    )
    app = create_app(Settings(redis_url=own_redis.url), config=mock_config(routing + LIMITS))
    async with AsyncTestClient(app=app) as client:
        app.state.services.authenticator = HeaderAuthenticator()
        yield client


def _degraded(component: str = "ratelimit") -> float:
    return float(DEGRADED_DECISIONS.labels(component, "local")._value.get())


async def _timed_post(client: AsyncTestClient) -> tuple[int, float]:  # type: ignore[type-arg]
    started = time.perf_counter()
    response = await client.post("/api/v1/image/generate", json=BODY)
    return response.status_code, time.perf_counter() - started


async def _recovered(client: AsyncTestClient, server: RedisServer) -> None:  # type: ignore[type-arg]
    """Poll (bounded) until a decision is taken by Redis again: the account's bucket appears there."""
    probe = redis.Redis.from_url(server.url)
    try:
        for _ in range(100):
            status, _ = await _timed_post(client)
            assert status == 200
            if probe.keys("ig:rl:*"):
                return
            await asyncio.sleep(0.05)
        pytest.fail("the limiter never went back to Redis")
    finally:
        probe.close()


async def test_paused_redis_degrades_within_the_timeout_and_recovers(
    app_client: AsyncTestClient,
    own_redis: RedisServer,  # type: ignore[type-arg]
) -> None:
    assert (await _timed_post(app_client))[0] == 200
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    before, leases_before = _degraded(), _degraded("lease")
    results = [await _timed_post(app_client) for _ in range(6)]
    print(
        f"\nSIGSTOP: {[status for status, _ in results]}, slowest {max(e for _, e in results) * 1000:.0f} ms"
    )
    assert all(status == 200 for status, _ in results), results  # degraded to the local limiter and gate
    assert max(elapsed for _, elapsed in results) < BOUND_S, results
    assert _degraded() >= before + 6 and _degraded("lease") >= leases_before + 6
    ready = (await app_client.get("/readyz")).json()
    assert ready["limits"]["ok"] is False and ready["limits"]["breaker"] in ("open", "half_open")
    os.kill(own_redis.process.pid, signal.SIGCONT)
    redis.Redis.from_url(own_redis.url).flushdb()
    await _recovered(app_client, own_redis)
    assert (await app_client.get("/readyz")).json()["limits"]["ok"] is True


async def test_killed_redis_degrades_and_recovers_after_restart(
    app_client: AsyncTestClient,
    own_redis: RedisServer,  # type: ignore[type-arg]
) -> None:
    assert (await _timed_post(app_client))[0] == 200
    assert own_redis.process is not None
    own_redis.process.kill()
    own_redis.process.wait()
    results = [await _timed_post(app_client) for _ in range(6)]
    print(
        f"\nSIGKILL: {[status for status, _ in results]}, slowest {max(e for _, e in results) * 1000:.0f} ms"
    )
    assert all(status == 200 for status, _ in results), results
    assert max(elapsed for _, elapsed in results) < BOUND_S, results
    own_redis.process = None
    own_redis.start()  # same port, empty
    await _recovered(app_client, own_redis)


async def test_the_replay_store_fails_fast_on_a_paused_redis(own_redis: RedisServer) -> None:
    """The store uses the same one-try client: a hung Redis costs one timeout, not redis-py's retries."""
    from gateway.state.base import StoreUnavailable
    from gateway.state.redis import RedisStore

    store = RedisStore.from_url(own_redis.url, timeout_s=0.15)
    retry = store.client.get_connection_kwargs()["retry"]
    assert retry.get_retries() == 0  # redis-py's default would retry (and could double-claim)
    await store.ping()
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable):
        await store.set_nx_get("ig:nonce:{a}:n", b"d", ttl_ms=60_000)
    assert time.perf_counter() - started < BOUND_S
    os.kill(own_redis.process.pid, signal.SIGCONT)
    assert (
        await store.set_nx_get("ig:nonce:{a}:n2", b"d", ttl_ms=60_000) is None
    )
    await store.aclose()
