from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.limits.gcra import Limiter, MemoryLimiter
from gateway.limits.redis_limiter import RedisLimiter
from gateway.redis.backend import RedisBackend


@pytest.fixture
async def backend(redis_url: str, redis_client) -> AsyncIterator[RedisBackend]:  # type: ignore[no-untyped-def]
    """The guarded request-path client on the session's (flushed) Redis."""
    guarded = RedisBackend.from_url(redis_url)
    yield guarded
    await guarded.aclose()


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    """Both GCRA implementations, for the one contract suite."""
    if request.param == "memory":
        yield MemoryLimiter()
        return
    request.getfixturevalue("redis_client")  # flushed
    guarded = RedisBackend.from_url(request.getfixturevalue("redis_url"))
    yield RedisLimiter(guarded)
    await guarded.aclose()
