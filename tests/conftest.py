"""Shared fixtures: a real redis-server (started on a free port unless REDIS_URL is set), apps, stores."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from gateway.state import MemoryStore, RedisStore, StateStore
from tests.support.redis_server import RedisServer, free_port


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for the whole session: REDIS_URL if given, else our own redis-server."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer(free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    """Every StateStore implementation, for contract suites."""
    if request.param == "memory":
        memory = MemoryStore()
        yield memory
        await memory.aclose()
        return
    request.getfixturevalue("redis_client")  # flushed
    redis_store = RedisStore.from_url(request.getfixturevalue("redis_url"))
    yield redis_store
    await redis_store.aclose()
