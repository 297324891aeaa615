"""The request-path Redis client (one pool per process, shared by the replay store, rate limits and
leases): short timeouts, no client retries, a bounded number of commands in flight with a generous
wait for a slot. Callers use it through `gateway.redis.backend.RedisBackend`.

redis-py's defaults retry a timed-out command (up to 10 times with backoff in 8.x): a hung Redis would
stall each request for seconds, and a retried GCRA or lease script could charge twice. Here every
command gets one try within `timeout_ms` (connect and each socket read/write).

Waiting for a connection is a different thing from Redis failing. Every command first takes one of
`pool_size` slots (an asyncio semaphore in front of the pool, so the pool itself never waits); a
command that cannot get one within `pool_wait_ms` raises `PoolExhausted`, never a Redis error. That
wait is wall time on a shared event loop: under a burst the loop may simply not come back to this
task in time, which says the process is busy, not that Redis is down. Callers answer it as overload
(503 with Retry-After), and it neither opens the Redis breaker nor counts as a Redis error.

URLs: `redis://`, `rediss://`, `unix://` for one server; `redis+cluster://host:port` (or
`rediss+cluster://`) for Redis Cluster, discovered from that seed node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Union

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.config.limits import RedisClientConfig

_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class PoolExhausted(Exception):
    """No Redis connection slot within the wait: this process is overloaded (Redis may be fine)."""


class _Slots:
    def __init__(self, size: int, wait_s: float) -> None:
        self._semaphore = asyncio.Semaphore(size)
        self._wait_s = wait_s

    async def run(self, command: Callable[[], Awaitable[Any]]) -> Any:
        try:
            async with asyncio.timeout(self._wait_s):
                await self._semaphore.acquire()
        except TimeoutError:  # counted by the backend, which knows the caller
            raise PoolExhausted(f"no redis connection free within {self._wait_s:g}s") from None
        try:
            return await command()  # created only once a slot is held (never an unawaited coroutine)
        finally:
            self._semaphore.release()


class SlottedRedis(aioredis.Redis):
    """A single-server client whose every command (scripts included) first takes a slot."""

    slots: _Slots

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        parent = super().execute_command
        return await self.slots.run(lambda: parent(*args, **options))  # type: ignore[no-untyped-call]


class SlottedRedisCluster(RedisCluster):
    """The cluster client, same discipline (its per-node pools would fail at once when full)."""

    slots: _Slots

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        parent = super().execute_command
        return await self.slots.run(lambda: parent(*args, **kwargs))


RedisClient = Union[aioredis.Redis, RedisCluster]  # noqa: UP007 - a runtime alias


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in _CLUSTER_SCHEMES


def connect(url: str, config: RedisClientConfig | None = None) -> RedisClient:
    cfg = config or RedisClientConfig()
    timeout = cfg.timeout_ms / 1000
    slots = _Slots(cfg.pool_size, cfg.pool_wait_ms / 1000)
    scheme, rest = url.split("://", 1)
    if scheme.lower() in _CLUSTER_SCHEMES:
        cluster = SlottedRedisCluster.from_url(
            f"{_CLUSTER_SCHEMES[scheme.lower()]}://{rest}",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            max_connections=cfg.pool_size,
            health_check_interval=15,
        )
        assert isinstance(cluster, SlottedRedisCluster)  # from_url is typed as the base class
        cluster.slots = slots
        return cluster
    # The slots admit at most pool_size commands, so this pool never waits; its timeout is a backstop.
    connection_pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=cfg.pool_size,
        timeout=cfg.pool_wait_ms / 1000,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=15,
    )
    client = SlottedRedis(connection_pool=connection_pool)
    client.slots = slots
    return client
