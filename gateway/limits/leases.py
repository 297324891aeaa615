"""Provider concurrency caps shared by every replica: a Redis lease set with expiring leases.

One sorted set per deployment (`ig:cc:{<deployment>}`), members = lease ids, scores = expiry (Redis
TIME, ms). Acquire reaps expired leases (a crashed replica's), compares the count with the cap and
adds the lease, atomically; the holder renews every ttl/3 and removes its lease on completion.
When Redis is unavailable the gate degrades to a per-process semaphore of cap ÷ replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import FailureClass, ProviderError
from gateway.limits.backend import RedisBackend, RedisUnavailable
from gateway.limits.redis_client import RedisClient
from gateway.metrics import DEGRADED_DECISIONS, LEASE_WAIT, LEASES_IN_USE
from gateway.routing.gate import ConcurrencyGate, LocalGate

log = logging.getLogger("imagegate.leases")

# KEYS[1] lease set; ARGV: cap, ttl_ms, lease id. Returns {1, 0} or {0, ms until the soonest expiry}.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return {1, 0}
"""
# KEYS[1] lease set; ARGV: ttl_ms, lease id. Returns 1 if renewed, 0 if the lease was lost.
RENEW_LUA = """
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
return 1
"""
_BACKOFF_S = (0.025, 0.05, 0.1)


def lease_key(deployment: str) -> str:
    return f"ig:cc:{{{deployment}}}"


class RedisGate:
    """`ConcurrencyGate` backed by Redis; `fallback` serves while Redis is unavailable."""

    def __init__(
        self,
        backend: RedisBackend,
        *,
        ttl_seconds: float = 30.0,
        replicas: int = 1,
        fallback: LocalGate | None = None,
    ) -> None:
        self._backend = backend
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._replicas = replicas
        self._fallback = fallback or LocalGate()
        self._acquire = backend.register_script(ACQUIRE_LUA)
        self._renew = backend.register_script(RENEW_LUA)

    @asynccontextmanager
    async def lease(self, deployment: str, *, limit: int | None, wait_seconds: float) -> AsyncIterator[None]:
        if limit is None:
            yield
            return
        lease_id = uuid.uuid4().hex
        key = lease_key(deployment)
        started = time.perf_counter()
        try:
            await self._wait_for_lease(deployment, key, lease_id, limit, wait_seconds)
        except RedisUnavailable:
            degraded = True
        except ProviderError:
            LEASE_WAIT.labels(deployment, "timeout").observe(time.perf_counter() - started)
            raise
        else:
            degraded = False
        if degraded:
            DEGRADED_DECISIONS.labels("lease", "local").inc()
            local_limit = max(1, limit // self._replicas)
            async with self._fallback.lease(deployment, limit=local_limit, wait_seconds=wait_seconds):
                LEASE_WAIT.labels(deployment, "local").observe(time.perf_counter() - started)
                yield
            return
        LEASE_WAIT.labels(deployment, "acquired").observe(time.perf_counter() - started)
        async with self._holding(deployment, key, lease_id):
            yield

    async def _wait_for_lease(
        self, deployment: str, key: str, lease_id: str, limit: int, wait: float
    ) -> None:
        deadline = time.monotonic() + max(wait, 0.0)
        attempt = 0
        while True:
            got, hint_ms = await self._try_acquire(key, lease_id, limit)
            if got:
                return
            pause = random.uniform(0.5, 1.0) * _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
            if time.monotonic() + pause > deadline:
                raise ProviderError(
                    deployment.split("/", 1)[0],
                    FailureClass.CAPACITY,
                    f"no concurrency lease for {deployment} in time",
                    retry_after=1.0 if hint_ms <= 0 else min(hint_ms / 1000, 5.0),
                )
            attempt += 1
            await asyncio.sleep(pause)

    async def _try_acquire(self, key: str, lease_id: str, limit: int) -> tuple[bool, int]:
        async def run(client: RedisClient) -> tuple[bool, int]:
            reply = await self._acquire(keys=[key], args=[limit, self._ttl_ms, lease_id], client=client)
            return bool(int(reply[0])), int(reply[1])

        return await self._backend.call("lease", run)

    @asynccontextmanager
    async def _holding(self, deployment: str, key: str, lease_id: str) -> AsyncIterator[None]:
        gauge = LEASES_IN_USE.labels(deployment)
        gauge.inc()
        renewer = asyncio.create_task(self._keep_renewed(deployment, key, lease_id))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            gauge.dec()
            with contextlib.suppress(RedisUnavailable):  # an unreleased lease expires after its ttl
                await self._backend.call("lease", lambda client: client.zrem(key, lease_id))

    async def _keep_renewed(self, deployment: str, key: str, lease_id: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                renewed = await self._backend.call(
                    "lease",
                    lambda client: self._renew(keys=[key], args=[self._ttl_ms, lease_id], client=client),
                )
            except RedisUnavailable:
                continue  # the lease stays valid until its expiry; try again next period
            if not int(renewed):
                log.warning("concurrency lease lost for %s (expired before renewal)", deployment)
                return


class LocalLeases:
    """The embedded default: per-process semaphores (`LocalGate`) with the same metrics as RedisGate."""

    def __init__(self) -> None:
        self._gate = LocalGate()

    @asynccontextmanager
    async def lease(self, deployment: str, *, limit: int | None, wait_seconds: float) -> AsyncIterator[None]:
        if limit is None:
            yield
            return
        started = time.perf_counter()
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(
                    self._gate.lease(deployment, limit=limit, wait_seconds=wait_seconds)
                )
            except ProviderError:
                LEASE_WAIT.labels(deployment, "timeout").observe(time.perf_counter() - started)
                raise
            LEASE_WAIT.labels(deployment, "acquired").observe(time.perf_counter() - started)
            gauge = LEASES_IN_USE.labels(deployment)
            gauge.inc()
            try:
                yield
            finally:
                gauge.dec()


def make_gate(
    backend: RedisBackend | None, *, ttl_seconds: float = 30.0, replicas: int = 1
) -> ConcurrencyGate:
    """The gate for this process: Redis-backed when a backend is configured, else per-process."""
    if backend is None:
        return LocalLeases()
    return RedisGate(backend, ttl_seconds=ttl_seconds, replicas=replicas)
