"""One Redis home per process (gateway/redis/): the replay store, rate limits and leases share one
client (one pool to REDIS_URL) and one breaker; /readyz writes once; the replay store still fails
closed and the limits still degrade (tests/limits, tests/auth, tests/reliability cover those)."""

from __future__ import annotations

import asyncio

import pytest
import redis
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.replay import ReplayGuard
from gateway.config.limits import RedisClientConfig
from gateway.errors import AuthUnavailable
from gateway.redis import RedisBackend, connect
from gateway.redis.breaker import RedisBreaker
from gateway.settings import Settings
from gateway.state.base import StoreUnavailable
from gateway.state.redis import RedisStore
from tests.support.app import MOCK_ROUTING, mock_config

LIMITED = MOCK_ROUTING.replace("    settings: {max_n: 4}\n", "    settings: {max_n: 4}\n    max_concurrency: 2\n", 1)
LIMITED += "limits:\n  ip: {rate: 100, burst: 100}\n"


async def test_the_store_limits_and_leases_share_one_client_and_readyz_writes_once(
    redis_url: str, redis_client: redis.Redis
) -> None:
    app = create_app(Settings(redis_url=redis_url), config=mock_config(LIMITED))
    async with AsyncTestClient(app=app) as client:
        services = app.state.services
        assert isinstance(services.store, RedisStore)
        assert services.store.backend is services.limits.backend  # one pool, one breaker
        assert (await client.post("/api/v1/image/generate", json={"model": "mock", "prompt": "x"})).status_code == 200
        redis_client.config_resetstat()
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["store"]["ok"] and ready.json()["limits"] == {"kind": "redis", "ok": True, "breaker": "closed"}
        writes = redis_client.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
        assert writes == 1  # one probe answers for the store and the limits


async def test_the_replay_store_fails_closed_while_the_shared_breaker_is_open(
    redis_url: str, redis_client: redis.Redis
) -> None:
    backend = RedisBackend.from_url(redis_url)
    store = RedisStore(backend)
    try:
        await store.ping()
        for _ in range(3):  # e.g. the limiter's calls failed: the process's one breaker opens
            backend.breaker.failure()
        assert backend.breaker.state == "open"
        with pytest.raises(StoreUnavailable, match="breaker open"):
            await store.set_nx_get("ig:siwx:n:x", b"d", ttl_ms=60_000)
        with pytest.raises(AuthUnavailable):
            await ReplayGuard(store).admit(chain="eip155:1", address="0xA", nonce="n", text="m", ttl_ms=60_000)
        assert redis_client.keys("ig:siwx:*") == []  # nothing claimed, nothing admitted
    finally:
        await store.aclose()


def test_a_half_open_probe_that_ends_without_an_answer_frees_the_probe() -> None:
    """A probe cancelled (client gone) or shed (no slot) says nothing about Redis; it must not hold
    the breaker shut for good — with the store on it, that would fail every sign-in closed forever."""
    now = [0.0]
    breaker = RedisBreaker(failures=1, open_seconds=2.0, clock=lambda: now[0])
    breaker.failure()
    now[0] = 2.5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # one at a time
    breaker.abandon()
    assert breaker.allow()  # the next caller probes
    breaker.success()
    assert breaker.state == "closed"


async def test_the_backend_frees_a_cancelled_probe() -> None:
    config = RedisClientConfig(breaker_failures=1, breaker_open_seconds=0.01)
    backend = RedisBackend(connect("redis://127.0.0.1:1/0", config), config)
    backend.breaker.failure()
    await asyncio.sleep(0.02)  # half-open: the next call is the probe

    async def cancelled(_client: object) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await backend.call("ratelimit", cancelled)
    assert backend.breaker.allow()  # not stuck behind a probe that will never report
    await backend.aclose()
