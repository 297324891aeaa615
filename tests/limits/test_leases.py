"""The Redis lease gate: the cap holds, leases are released, renewed and reaped, waits time out."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
import redis

from gateway.config.limits import RedisClientConfig
from gateway.errors import FailureClass, ProviderError
from gateway.limits.leases import RedisGate, lease_key, make_gate
from gateway.metrics import DEGRADED_DECISIONS, LEASE_WAIT, LEASES_IN_USE
from gateway.redis.backend import RedisBackend
from tests.reliability.figures import record
from tests.support.redis_server import RedisServer, free_port


async def _hold(gate: RedisGate, deployment: str, cap: int, counter: dict[str, int], hold: float) -> None:
    async with gate.lease(deployment, limit=cap, wait_seconds=5.0):
        counter["now"] += 1
        counter["max"] = max(counter["max"], counter["now"])
        await asyncio.sleep(hold)
        counter["now"] -= 1


async def test_cap_holds_under_concurrency_and_leases_are_released(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    gate = RedisGate(backend, ttl_seconds=10)
    counter = {"now": 0, "max": 0}
    await asyncio.gather(*(_hold(gate, "p/m", 3, counter, 0.02) for _ in range(15)))
    assert counter["max"] == 3
    assert redis_client.zcard(lease_key("p/m")) == 0


async def test_no_lease_within_the_wait_is_a_capacity_failure(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    gate = RedisGate(backend, ttl_seconds=10)
    async with gate.lease("p/m", limit=1, wait_seconds=1.0):
        with pytest.raises(ProviderError) as caught:
            async with gate.lease("p/m", limit=1, wait_seconds=0.05):
                pytest.fail("a second lease was granted over the cap")
    assert caught.value.failure is FailureClass.CAPACITY and caught.value.retry_after
    async with gate.lease("p/m", limit=1, wait_seconds=0.05):  # released: available again
        assert redis_client.zcard(lease_key("p/m")) == 1


async def test_expired_leases_of_a_crashed_replica_are_reaped(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    seconds, _ = redis_client.time()
    redis_client.zadd(
        lease_key("p/m"), {"crashed-1": (seconds - 60) * 1000, "crashed-2": (seconds - 1) * 1000}
    )
    gate = RedisGate(backend, ttl_seconds=10)
    async with gate.lease("p/m", limit=1, wait_seconds=0.05):
        members = redis_client.zrange(lease_key("p/m"), 0, -1)
        assert len(members) == 1 and not members[0].startswith(b"crashed")


async def test_long_jobs_renew_their_lease(backend: RedisBackend, redis_client: redis.Redis) -> None:
    gate = RedisGate(backend, ttl_seconds=0.3)  # renewed every 0.1 s
    async with gate.lease("p/m", limit=1, wait_seconds=0.05):
        first = redis_client.zrange(lease_key("p/m"), 0, -1, withscores=True)[0][1]
        for _ in range(50):  # wait (bounded) until a renewal moved the expiry forward
            await asyncio.sleep(0.05)
            if redis_client.zrange(lease_key("p/m"), 0, -1, withscores=True)[0][1] > first:
                break
        else:
            pytest.fail("the lease was never renewed")
    assert redis_client.zcard(lease_key("p/m")) == 0


async def test_unlimited_deployments_take_no_lease(backend: RedisBackend, redis_client: redis.Redis) -> None:
    gate = RedisGate(backend)
    async with gate.lease("p/m", limit=None, wait_seconds=0):
        assert redis_client.exists(lease_key("p/m")) == 0


async def test_without_redis_the_gate_degrades_to_a_local_share_of_the_cap() -> None:
    dead = RedisBackend.from_url(f"redis://127.0.0.1:{free_port()}/0", RedisClientConfig(timeout_ms=100))
    gate = RedisGate(dead, replicas=2)
    before = DEGRADED_DECISIONS.labels("lease", "local")._value.get()
    counter = {"now": 0, "max": 0}
    await asyncio.gather(*(_hold(gate, "p/m", 4, counter, 0.01) for _ in range(8)))
    assert counter["max"] == 2  # cap 4 ÷ 2 replicas
    assert DEGRADED_DECISIONS.labels("lease", "local")._value.get() >= before + 8
    await dead.aclose()


async def test_the_embedded_gate_caps_and_is_measured() -> None:
    gate = make_gate(None)
    before = LEASE_WAIT.labels("local/m", "acquired")._sum.get()
    counter = {"now": 0, "max": 0}
    await asyncio.gather(*(_hold(gate, "local/m", 2, counter, 0.01) for _ in range(6)))  # type: ignore[arg-type]
    assert counter["max"] == 2
    assert LEASE_WAIT.labels("local/m", "acquired")._sum.get() > before
    assert LEASES_IN_USE.labels("local/m")._value.get() == 0
    async with gate.lease("local/m", limit=1, wait_seconds=1.0):
        with pytest.raises(ProviderError):
            async with gate.lease("local/m", limit=1, wait_seconds=0.01):
                pytest.fail("a second lease was granted over the cap")


@pytest.fixture
def paused_redis() -> Iterator[RedisServer]:
    """An own redis-server this test may SIGSTOP (always continued and stopped afterwards)."""
    server = RedisServer(free_port()).start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def _evalsha_calls(probe: redis.Redis) -> int:
    return int(probe.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


async def test_an_acquire_that_timed_out_during_a_pause_leaves_no_ghost_lease(
    paused_redis: RedisServer,
) -> None:
    """Issue 14 item 4: acquires that time out while Redis is stopped run when it resumes; their
    owners went local, so a lease they add would hold capacity for the whole ttl (30 s)."""
    config = RedisClientConfig(timeout_ms=250, breaker_failures=100)
    backend = RedisBackend.from_url(paused_redis.url, config)
    gate = RedisGate(backend, ttl_seconds=30)
    probe = paused_redis.client()
    key = lease_key("p/m")
    # Four leases at once while Redis answers: the clock is learnt and four connections are pooled.
    await asyncio.gather(*(_hold(gate, "p/m", 4, {"now": 0, "max": 0}, 0.02) for _ in range(4)))
    assert probe.zcard(key) == 0
    sent_before = _evalsha_calls(probe)
    assert paused_redis.process is not None
    os.kill(paused_redis.process.pid, signal.SIGSTOP)
    try:
        degraded = DEGRADED_DECISIONS.labels("lease", "local")._value.get()
        await asyncio.gather(*(_hold(gate, "p/m", 4, {"now": 0, "max": 0}, 0) for _ in range(4)))
        assert DEGRADED_DECISIONS.labels("lease", "local")._value.get() == degraded + 4  # all timed out
    finally:
        os.kill(paused_redis.process.pid, signal.SIGCONT)
    for _ in range(200):  # bounded wait until Redis has run the stale scripts it had received
        if _evalsha_calls(probe) > sent_before:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("no stale acquire reached Redis")
    await asyncio.sleep(0.05)  # the others, if any, were buffered alongside
    ghosts, stale = probe.zcard(key), _evalsha_calls(probe) - sent_before
    # The whole cap must be usable at once (before the fix: none of it, for 30 s).
    slots = asyncio.Semaphore(4)

    async def call() -> bool:
        async with slots:
            try:
                async with gate.lease("p/m", limit=4, wait_seconds=1.0):
                    await asyncio.sleep(0.01)
                return True
            except ProviderError:
                return False

    results = await asyncio.gather(*(call() for _ in range(40)))
    record(
        "ghost leases after a Redis pause",
        cap=4,
        acquires_timed_out_during_pause=4,
        stale_scripts_run=stale,
        ghost_leases_after_resume=ghosts,
        capacity_failures_after_resume=results.count(False),
        calls_after_resume=len(results),
    )
    assert ghosts == 0
    assert results.count(False) == 0
    probe.close()
    await backend.aclose()


async def test_a_lease_whose_release_got_no_answer_is_removed_by_the_next_acquire(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    gate = RedisGate(backend, ttl_seconds=30)
    gate._orphan(lease_key("p/m"), "lost-release")
    redis_client.zadd(lease_key("p/m"), {"lost-release": 10**13})  # as if its ZREM never arrived
    async with gate.lease("p/m", limit=1, wait_seconds=0.05):
        assert redis_client.zrange(lease_key("p/m"), 0, -1) != [b"lost-release"]
    assert redis_client.zcard(lease_key("p/m")) == 0 and not gate._orphans
