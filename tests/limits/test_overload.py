"""Issue 13 item 7, unit level on a real Redis: no free connection slot is overload, not Redis down.

The nonce claim and the limiter each wait for a connection slot; running out of that wait means the
process is busy. It must answer 503 `service_unavailable` with Retry-After (the spec's code; it has
no `overloaded`), count `imagegate_redis_pool_exhausted_total` / `imagegate_overload_shed_total`,
and leave alone what a Redis outage drives: `auth_unavailable`, the degraded-decision counter (the
Redis alert), the Redis error counter and the breaker.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from gateway.auth.replay import ReplayGuard
from gateway.config.limits import LimitsConfig, RedisClientConfig
from gateway.errors import AuthUnavailable, ServiceUnavailable
from gateway.limits.gcra import Bucket
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.service import RateLimits
from gateway.redis.backend import RedisBackend
from gateway.redis.client import connect
from gateway.state.redis import RedisStore

ONE_SLOT = RedisClientConfig(timeout_ms=2000, pool_size=1, pool_wait_ms=20)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def degraded() -> float:
    return sum(
        sample("imagegate_degraded_decisions_total", component=c, decision=d)
        for c, d in (("auth", "reject"), ("ratelimit", "local"), ("ratelimit", "reject"))
    )


async def test_a_busy_store_pool_is_overload_not_auth_unavailable(redis_url: str, redis_client) -> None:  # type: ignore[no-untyped-def]
    store = RedisStore(RedisBackend(connect(redis_url, ONE_SLOT), ONE_SLOT))
    guard = ReplayGuard(store)
    before = (sample("imagegate_redis_pool_exhausted_total", component="store"), degraded())
    holder = asyncio.create_task(store.client.execute_command("BLPOP", "ig:test:never", "0.5"))
    await asyncio.sleep(0)  # the holder takes the only slot
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await guard.admit(chain="eip155:1", address="0xA", nonce="n1", text="m", ttl_ms=60_000)
        assert not isinstance(caught.value, AuthUnavailable)
        assert caught.value.code == "service_unavailable" and caught.value.retry_after
        assert sample("imagegate_redis_pool_exhausted_total", component="store") == before[0] + 1
        assert degraded() == before[1]  # the Redis-degraded alert stays quiet
    finally:
        await holder
        await store.aclose()
    # A slot free again: the same claim goes through (the busy moment burned nothing).
    store = RedisStore(RedisBackend(connect(redis_url, ONE_SLOT), ONE_SLOT))
    try:
        await ReplayGuard(store).admit(
            chain="eip155:1", address="0xA", nonce="n1", text="m", ttl_ms=60_000
        )
    finally:
        await store.aclose()


async def test_a_busy_limiter_pool_sheds_without_feeding_the_breaker(redis_url: str, redis_client) -> None:  # type: ignore[no-untyped-def]
    backend = RedisBackend.from_url(redis_url, ONE_SLOT)
    limits = RateLimits(RedisLimiter(backend))
    await backend.ping()  # scripts loaded
    errors = sample("imagegate_redis_errors_total", operation="ratelimit")
    holder = asyncio.create_task(backend.client.execute_command("BLPOP", "ig:test:never", "0.5"))
    await asyncio.sleep(0)
    try:
        bucket = Bucket("ip:all", 1000, 10, 1)
        with pytest.raises(ServiceUnavailable) as caught:
            await limits._decide(LimitsConfig(), "ip", "ip:1.2.3.4", bucket)
        assert caught.value.code == "service_unavailable"
        assert backend.breaker.state == "closed"
        assert sample("imagegate_redis_errors_total", operation="ratelimit") == errors
    finally:
        await holder
        await backend.aclose()
