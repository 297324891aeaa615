"""The budget ledger: one interface, two stores (Redis for replicas, memory for one process).

Per account: a prepaid `balance`, the allowance `spent` in the current period, and the live
reservations (id -> amount, expiry). Every step is one atomic operation (one Lua script in Redis;
no await inside the memory twin's methods), so concurrent requests can never reserve more than
the account has:

    available = (allowance - spent, if an allowance) + (balance, if prepaid) - sum(live reservations)

    reserve   purge expired reservations; admit iff amount <= available; record the reservation
    settle    purge; drop the reservation; charge min(actual, reserved) from the allowance first,
              then the balance (each capped, so neither ever goes negative)
    adjust    credit (or debit, refused below zero) the prepaid balance
    snapshot  purge; the figures above

All amounts are integer micro-USD. `now_ms` lets the contract tests drive the clock (Redis reads
its own TIME otherwise, so replicas agree).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import msgspec


class Terms(msgspec.Struct, frozen=True):
    """What the account's budget config says, for one operation."""

    allowance: int | None  # per period, micro-USD; None: no allowance
    period: str  # the current period's key ("2026-12-05"): spent resets when it changes
    prepaid: bool


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    balance: int
    spent: int
    reserved: int
    reservations: int
    available: int  # may be negative only if an operator debits below what is reserved


class Reserved(msgspec.Struct, frozen=True):
    admitted: bool
    available: int  # before this reservation


class BudgetStore(Protocol):
    kind: str

    async def reserve(
        self, account: str, rid: str, amount: int, terms: Terms, ttl_ms: int, now_ms: int | None = None
    ) -> Reserved: ...

    async def settle(self, account: str, rid: str, actual: int, terms: Terms, now_ms: int | None = None) -> int: ...

    async def snapshot(self, account: str, terms: Terms, now_ms: int | None = None) -> Snapshot: ...

    async def adjust(self, account: str, delta: int) -> int | None: ...


def available(allowance: int | None, spent: int, balance: int, prepaid: bool, reserved: int) -> int:
    left = max(0, allowance - spent) if allowance is not None else 0
    return left + (balance if prepaid else 0) - reserved


@dataclass(slots=True)
class _Account:
    balance: int = 0
    period: str = ""
    spent: int = 0
    reservations: dict[str, tuple[int, int]] = field(default_factory=dict)  # rid -> (amount, expiry ms)


class MemoryBudgetStore:
    """The embedded default's twin of the Redis script (one process: no await inside a step)."""

    kind = "memory"

    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}

    def _open(self, account: str, terms: Terms | None, now_ms: int | None) -> _Account:
        state = self._accounts.setdefault(account, _Account())
        now = _now_ms() if now_ms is None else now_ms
        for rid, (_, expiry) in list(state.reservations.items()):
            if expiry <= now:
                del state.reservations[rid]
        if terms is not None and state.period != terms.period:
            state.period, state.spent = terms.period, 0
        return state

    def _available(self, state: _Account, terms: Terms) -> int:
        reserved = sum(amount for amount, _ in state.reservations.values())
        return available(terms.allowance, state.spent, state.balance, terms.prepaid, reserved)

    async def reserve(
        self, account: str, rid: str, amount: int, terms: Terms, ttl_ms: int, now_ms: int | None = None
    ) -> Reserved:
        state = self._open(account, terms, now_ms)
        free = self._available(state, terms)
        if amount > free:
            return Reserved(False, free)
        now = _now_ms() if now_ms is None else now_ms
        state.reservations[rid] = (amount, now + ttl_ms)
        return Reserved(True, free)

    async def settle(self, account: str, rid: str, actual: int, terms: Terms, now_ms: int | None = None) -> int:
        state = self._open(account, terms, now_ms)
        held = state.reservations.pop(rid, None)
        charge = actual if held is None else min(actual, held[0])
        from_allowance = min(charge, max(0, terms.allowance - state.spent)) if terms.allowance is not None else 0
        state.spent += from_allowance
        from_balance = min(charge - from_allowance, max(0, state.balance)) if terms.prepaid else 0
        state.balance -= from_balance
        return from_allowance + from_balance

    async def snapshot(self, account: str, terms: Terms, now_ms: int | None = None) -> Snapshot:
        state = self._open(account, terms, now_ms)
        reserved = sum(amount for amount, _ in state.reservations.values())
        return Snapshot(
            balance=state.balance,
            spent=state.spent,
            reserved=reserved,
            reservations=len(state.reservations),
            available=self._available(state, terms),
        )

    async def adjust(self, account: str, delta: int) -> int | None:
        state = self._open(account, None, None)
        if state.balance + delta < 0:
            return None
        state.balance += delta
        return state.balance

    async def aclose(self) -> None:
        return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
