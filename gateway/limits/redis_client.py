"""The request-path Redis client: short timeouts, no client retries, a bounded pool with a short wait.

redis-py's defaults retry a timed-out command (up to 10 times with backoff in 8.x): a hung Redis would
stall each request for seconds, and a retried GCRA or lease script could charge twice. Here every
command gets one try within `timeout_ms`, and a full pool waits at most `pool_wait_ms`.

URLs: `redis://`, `rediss://`, `unix://` for one server; `redis+cluster://host:port` (or
`rediss+cluster://`) for Redis Cluster, discovered from that seed node.
"""

from __future__ import annotations

from typing import Union

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.limits.config import RedisClientConfig

RedisClient = Union[aioredis.Redis, RedisCluster]  # noqa: UP007 - a runtime alias
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in _CLUSTER_SCHEMES


def connect(url: str, config: RedisClientConfig | None = None) -> RedisClient:
    cfg = config or RedisClientConfig()
    timeout = cfg.timeout_ms / 1000
    scheme, rest = url.split("://", 1)
    if scheme.lower() in _CLUSTER_SCHEMES:
        return RedisCluster.from_url(
            f"{_CLUSTER_SCHEMES[scheme.lower()]}://{rest}",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            max_connections=cfg.pool_size,
            health_check_interval=15,
        )
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=cfg.pool_size,
        timeout=cfg.pool_wait_ms / 1000,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=15,
    )
    return aioredis.Redis(connection_pool=pool)
