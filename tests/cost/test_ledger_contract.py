"""The budget ledger's contract, run against both stores: Redis (one Lua script per step) and the
memory twin of the embedded default. The clock is passed in (`now_ms`), so expiry is deterministic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.budgets.redis_store import RedisBudgetStore
from gateway.budgets.store import BudgetStore, MemoryBudgetStore, Terms
from gateway.config.limits import RedisClientConfig
from gateway.redis.backend import RedisBackend

PREPAID = Terms(allowance=None, period="2026-12-05", prepaid=True)
ALLOWANCE = Terms(allowance=100, period="2026-12-05", prepaid=False)
BOTH = Terms(allowance=100, period="2026-12-05", prepaid=True)
T0 = 1_800_000_000_000


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[BudgetStore]:
    if request.param == "memory":
        yield MemoryBudgetStore()
        return
    request.getfixturevalue("redis_client")  # flushed
    # The contract, not the production timeouts: 50 concurrent scripts on a loaded CI box can take
    # longer than the 200 ms default per command, which would fail closed (tested elsewhere).
    patient = RedisClientConfig(timeout_ms=5000, pool_wait_ms=30_000)
    backend = RedisBackend.from_url(request.getfixturevalue("redis_url"), patient)
    yield RedisBudgetStore(backend)
    await backend.aclose()


async def test_reserve_settle_release(ledger: BudgetStore) -> None:
    assert await ledger.adjust("a", 1000) == 1000
    first = await ledger.reserve("a", "r1", 400, PREPAID, 60_000, now_ms=T0)
    assert (first.admitted, first.available) == (True, 1000)
    assert (await ledger.snapshot("a", PREPAID, now_ms=T0)).available == 600
    assert await ledger.settle("a", "r1", 150, PREPAID, now_ms=T0) == 150  # the rest is released
    snap = await ledger.snapshot("a", PREPAID, now_ms=T0)
    assert (snap.balance, snap.reserved, snap.reservations, snap.available) == (850, 0, 0, 850)


async def test_refused_when_short_and_never_negative(ledger: BudgetStore) -> None:
    await ledger.adjust("a", 100)
    refused = await ledger.reserve("a", "r1", 101, PREPAID, 60_000, now_ms=T0)
    assert (refused.admitted, refused.available) == (False, 100)
    assert (await ledger.reserve("a", "r2", 100, PREPAID, 60_000, now_ms=T0)).admitted
    assert not (await ledger.reserve("a", "r3", 1, PREPAID, 60_000, now_ms=T0)).admitted
    assert await ledger.settle("a", "r2", 500, PREPAID, now_ms=T0) == 100  # capped at the reservation
    assert (await ledger.snapshot("a", PREPAID, now_ms=T0)).balance == 0


async def test_allowance_first_then_balance_and_period_reset(ledger: BudgetStore) -> None:
    await ledger.adjust("a", 50)
    assert (await ledger.reserve("a", "r1", 140, BOTH, 60_000, now_ms=T0)).available == 150
    await ledger.settle("a", "r1", 140, BOTH, now_ms=T0)
    snap = await ledger.snapshot("a", BOTH, now_ms=T0)
    assert (snap.spent, snap.balance, snap.available) == (100, 10, 10)
    assert not (await ledger.reserve("a", "r2", 20, ALLOWANCE, 60_000, now_ms=T0)).admitted
    tomorrow = Terms(allowance=100, period="2026-12-06", prepaid=False)
    assert (await ledger.reserve("a", "r3", 100, tomorrow, 60_000, now_ms=T0)).admitted
    assert (await ledger.snapshot("a", tomorrow, now_ms=T0)).spent == 0


async def test_expired_reservation_is_restored(ledger: BudgetStore) -> None:
    await ledger.adjust("a", 100)
    assert (await ledger.reserve("a", "dead", 80, PREPAID, 5_000, now_ms=T0)).admitted
    assert not (await ledger.reserve("a", "r2", 80, PREPAID, 5_000, now_ms=T0 + 4_999)).admitted
    snap = await ledger.snapshot("a", PREPAID, now_ms=T0 + 5_000)
    assert (snap.reservations, snap.reserved, snap.available, snap.balance) == (0, 0, 100, 100)
    # A late settlement of an expired reservation charges only what is there, never below zero.
    assert await ledger.settle("a", "dead", 300, PREPAID, now_ms=T0 + 6_000) == 100
    assert (await ledger.snapshot("a", PREPAID, now_ms=T0 + 6_000)).balance == 0


async def test_concurrent_reservations_never_overspend(ledger: BudgetStore) -> None:
    await ledger.adjust("a", 1000)
    results = await asyncio.gather(*(ledger.reserve("a", f"r{i}", 100, PREPAID, 60_000) for i in range(50)))
    assert sum(r.admitted for r in results) == 10
    await asyncio.gather(*(ledger.settle("a", f"r{i}", 100, PREPAID) for i in range(50)))
    snap = await ledger.snapshot("a", PREPAID)
    assert (snap.balance, snap.reserved, snap.reservations) == (0, 0, 0)


async def test_credit_debit(ledger: BudgetStore) -> None:
    assert await ledger.adjust("a", 500) == 500
    assert await ledger.adjust("a", -200) == 300
    assert await ledger.adjust("a", -301) is None  # never below zero
    assert await ledger.adjust("b", 1) == 1  # accounts are separate
    assert (await ledger.snapshot("a", PREPAID)).balance == 300
