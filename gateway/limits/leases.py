"""Provider concurrency caps shared by every replica: a Redis lease set with expiring leases.

One sorted set per deployment (`ig:cc:{<deployment>}`), members = lease ids, scores = expiry (Redis
TIME, ms). Acquire reaps expired leases (a crashed replica's), compares the count with the cap and
adds the lease, atomically; the holder renews every ttl/3 and removes its lease on completion.
When Redis is unavailable the gate degrades to a per-process semaphore of cap ÷ replicas.

No ghost leases after a Redis pause: an acquire that timed out here has moved on to the local
semaphore, but its script may still run when Redis resumes. So each acquire carries a deadline on
Redis' own clock (TIME; the offset is learnt from replies) and a late run adds nothing; and the id
of a lease whose acquire or release got no answer is remembered and removed by the next acquire on
that deployment (the rare case of a script that ran in time but whose answer came too late).
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
from gateway.metrics import DEGRADED_DECISIONS, LEASE_WAIT, LEASES_IN_USE
from gateway.redis.backend import RedisBackend, RedisUnavailable
from gateway.redis.client import RedisClient
from gateway.routing.gate import ConcurrencyGate, LocalGate

log = logging.getLogger("imagegate.leases")

# KEYS[1] lease set; ARGV: cap, ttl_ms, lease id, deadline (Redis ms, 0: none), orphaned lease ids...
# Returns {1, 0, now} granted, {0, ms until the soonest expiry, now} full, {-1, 0, now} past the deadline
# (the caller gave up waiting for this answer: add nothing). Orphans are removed whatever the outcome.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if #ARGV > 4 then redis.call('ZREM', KEYS[1], unpack(ARGV, 5)) end
local deadline = tonumber(ARGV[4])
if deadline > 0 and now > deadline then return {-1, 0, now} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now, now}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return {1, 0, now}
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
# The script must run within this share of the client's command timeout, so that its answer can
# still arrive in time; a later run is a no-op.
_DEADLINE_SHARE = 0.75
_MAX_ORPHANS = 64  # per deployment; older ones expire in Redis after the lease ttl anyway


class _RedisClock:
    """Redis' clock (ms) estimated here: monotonic time plus an offset learnt from script replies.

    A reply's Redis time is matched with the midpoint of its round trip, so the error is at most
    half the round trip; slow round trips (over `max_rtt`) do not replace a known offset.
    """

    def __init__(self, max_rtt: float) -> None:
        self._max_rtt = max_rtt
        self._offset_ms: float | None = None

    @property
    def known(self) -> bool:
        return self._offset_ms is not None

    def now_ms(self) -> float:
        assert self._offset_ms is not None
        return time.monotonic() * 1000 + self._offset_ms

    def observe(self, redis_ms: float, sent: float, received: float) -> None:
        if self._offset_ms is None or received - sent <= self._max_rtt:
            self._offset_ms = redis_ms - (sent + received) * 500


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
        self._budget_ms = backend.command_timeout * 1000 * _DEADLINE_SHARE
        self._clock = _RedisClock(max_rtt=backend.command_timeout / 4)
        # lease set key -> orphaned lease id -> monotonic time after which it has expired in Redis
        self._orphans: dict[str, dict[str, float]] = {}

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
        if not self._clock.known:
            await self._sync_clock()
        orphans = self._pending_orphans(key)

        async def run(client: RedisClient) -> tuple[int, int, int]:
            deadline = round(self._clock.now_ms() + self._budget_ms)
            args: list[str | int] = [limit, self._ttl_ms, lease_id, deadline, *orphans]
            sent = time.monotonic()
            reply = await self._acquire(keys=[key], args=args, client=client)
            self._clock.observe(int(reply[2]), sent, time.monotonic())
            return int(reply[0]), int(reply[1]), int(reply[2])

        try:
            granted, hint_ms, _ = await self._backend.call("lease", run)
        except RedisUnavailable as exc:
            if not exc.skipped:  # sent, maybe run: make sure this lease id cannot stay behind
                self._orphan(key, lease_id)
            raise
        self._forget_orphans(key, orphans)
        if granted < 0:
            raise RedisUnavailable("redis lease acquire ran past its deadline (redis too slow)")
        return granted == 1, hint_ms

    async def _sync_clock(self) -> None:
        async def now(client: RedisClient) -> None:
            sent = time.monotonic()
            seconds, micros = await client.time()
            self._clock.observe(seconds * 1000 + micros / 1000, sent, time.monotonic())

        await self._backend.call("lease", now)

    def _orphan(self, key: str, lease_id: str) -> None:
        bucket = self._orphans.setdefault(key, {})
        bucket[lease_id] = time.monotonic() + self._ttl_ms / 1000
        while len(bucket) > _MAX_ORPHANS:
            del bucket[next(iter(bucket))]

    def _pending_orphans(self, key: str) -> list[str]:
        bucket = self._orphans.get(key)
        if not bucket:
            return []
        now = time.monotonic()
        for lease_id in [lease_id for lease_id, expiry in bucket.items() if expiry <= now]:
            del bucket[lease_id]
        return list(bucket)

    def _forget_orphans(self, key: str, removed: list[str]) -> None:
        bucket = self._orphans.get(key)
        for lease_id in removed:
            if bucket is not None:
                bucket.pop(lease_id, None)
        if not bucket:
            self._orphans.pop(key, None)

    @asynccontextmanager
    async def _holding(self, deployment: str, key: str, lease_id: str) -> AsyncIterator[None]:
        gauge = LEASES_IN_USE.labels(deployment)
        gauge.inc()
        # A flag as well as cancel(): a cancellation that lands while a Redis call is timing out can
        # come back as that call's TimeoutError (asyncio.timeout on 3.11), and the loop would renew on
        # forever while the release awaits it.
        stop = asyncio.Event()
        renewer = asyncio.create_task(self._keep_renewed(deployment, key, lease_id, stop))
        try:
            yield
        finally:
            stop.set()
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            gauge.dec()
            try:
                await self._backend.call("lease", lambda client: client.zrem(key, lease_id))
            except RedisUnavailable:  # removed by the next acquire here (else it expires after its ttl)
                self._orphan(key, lease_id)

    async def _keep_renewed(self, deployment: str, key: str, lease_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._ttl_ms / 3000)
            if stop.is_set():
                return
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
