"""Budgets on the request path: reserve at admission, settle when the request is over.

    admission (gateway/api/admit.py)   `await services.budgets.reserve(runtime, account, route, req)`
        the request's maximum cost (n x the highest unit price along its chain, fallback models
        included) is reserved atomically; not enough: 402 insufficient_balance
    run (gateway/generation.py, gateway/costing.py)   `settle(ticket, actual)`
        the actual cost (what its calls cost, capped at the reservation) is charged, the rest freed

The ticket travels from admission to the pipeline in a context variable (the request's task and the
tasks it starts inherit it), so no endpoint codec has to carry it. A reservation that is never
settled (the replica died) expires after the request's deadline plus `reservation_grace_seconds`.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import time
from dataclasses import dataclass

from gateway.budgets.redis_store import RedisBudgetStore
from gateway.budgets.store import BudgetStore, MemoryBudgetStore, Snapshot, Terms
from gateway.budgets.x402 import payment_required_header
from gateway.canonical import ImageRequest
from gateway.config.cost import AccountBudget, BudgetsConfig, format_usd
from gateway.config.providers import ModelConfig
from gateway.config.routing import RoutingConfig
from gateway.errors import GatewayError, ServiceUnavailable
from gateway.metrics import BUDGET_REJECTIONS
from gateway.pricing import unit_max
from gateway.redis.backend import RedisBackend, RedisUnavailable

log = logging.getLogger("imagegate.budgets")


class InsufficientBalance(GatewayError):
    status_code = 402
    code = "insufficient_balance"


@dataclass(slots=True)
class Ticket:
    """One admitted request's account and (with budgets on) its reservation."""

    account: str
    rid: str = ""
    reserved: int = 0  # micro-USD; 0 with nothing reserved
    terms: Terms | None = None  # None: budgets off for this request
    settled: bool = False
    started: bool = False  # the pipeline took it (gateway/costing.py): it settles it, whatever happens
    budgets: Budgets | None = None  # who settles it


CURRENT: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("imagegate_budget_ticket", default=None)
# The HTTP request's reservations (gateway/api/budget_release.py): one never taken by the pipeline
# (a later admission step or the codec refused the request) is released when the response is done.
PENDING: contextvars.ContextVar[list[Ticket] | None] = contextvars.ContextVar("imagegate_budget_pending", default=None)


def ledger_account(account: str) -> str:
    """The ledger's key for an account: EVM addresses are case-insensitive (EIP-55 case is only a
    checksum), so `eip155:` accounts are lowercased; every other form is kept as is."""
    return account.lower() if account.startswith("eip155:") else account


def period_key(period: str, now: float | None = None) -> str:
    t = time.gmtime(time.time() if now is None else now)
    formats = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}
    return time.strftime(formats[period], t)


def terms_for(budget: AccountBudget) -> Terms:
    return Terms(allowance=budget.allowance_micro, period=period_key(budget.period), prepaid=budget.prepaid)


def max_cost(config: RoutingConfig, model: ModelConfig, req: ImageRequest) -> int:
    """n x the highest unit price along the chain (the model's deployments, then its fallback models')."""
    models = [model, *(r[1] for name in model.fallback_models if (r := config.resolve_model(name)))]
    units = [unit_max(d.price, req) for m in models for d in m.deployments if d.price is not None]
    return req.n * max(units, default=0)


class Budgets:
    def __init__(self, store: BudgetStore) -> None:
        self.store = store

    @classmethod
    def open(cls, backend: RedisBackend | None) -> Budgets:
        if backend is None:
            return cls(MemoryBudgetStore())
        return cls(RedisBudgetStore(backend))

    async def reserve(self, config: RoutingConfig, account: str, model: ModelConfig, req: ImageRequest) -> Ticket:
        ticket = Ticket(account=account, budgets=self)
        CURRENT.set(ticket)
        budgets = config.budgets
        if budgets is None or not budgets.enabled:
            return ticket
        terms = terms_for(budgets.for_account(account))
        amount = max_cost(config, model, req)
        if amount == 0:  # nothing along the chain is priced: nothing to reserve, nothing to settle
            return ticket
        rid = secrets.token_hex(8)
        deadline_s = model.deadline_seconds or config.server.request_deadline_seconds
        ttl_ms = int((deadline_s + budgets.reservation_grace_seconds) * 1000)
        try:
            reserved = await self.store.reserve(ledger_account(account), rid, amount, terms, ttl_ms)
        except RedisUnavailable as exc:  # money: fail closed
            log.warning("budget reservation refused: %s", exc)
            raise ServiceUnavailable("the budget store is unavailable; try again", retry_after=1) from None
        if not reserved.admitted:
            BUDGET_REJECTIONS.labels("insufficient_balance").inc()
            raise insufficient(account, max(0, reserved.available), amount)
        ticket.rid, ticket.reserved, ticket.terms = rid, amount, terms
        pending = PENDING.get()
        if pending is not None:
            pending.append(ticket)
        return ticket

    async def release_unstarted(self, ticket: Ticket) -> None:
        """Free a reservation the pipeline never took (nothing was sent upstream for it)."""
        if not ticket.started and not ticket.settled:
            await self.settle(ticket, 0)

    async def settle(self, ticket: Ticket, actual: int) -> int:
        """Charge `actual` (at most what was reserved); the rest of the reservation is freed."""
        if ticket.settled or ticket.terms is None:
            return min(actual, ticket.reserved) if ticket.terms is not None else 0
        ticket.settled = True
        try:
            return await self.store.settle(ledger_account(ticket.account), ticket.rid, actual, ticket.terms)
        except RedisUnavailable as exc:
            log.error("budget settlement failed (the reservation will expire unsettled): %s", exc)
            return 0

    async def snapshot(self, budgets: BudgetsConfig | None, account: str) -> Snapshot:
        terms = terms_for((budgets or BudgetsConfig()).for_account(account))
        return await self.store.snapshot(ledger_account(account), terms)

    async def adjust(self, account: str, delta: int) -> int | None:
        """Credit (delta > 0) or debit the prepaid balance; None when a debit would go below zero."""
        return await self.store.adjust(ledger_account(account), delta)


def insufficient(account: str, balance: int, needed: int) -> InsufficientBalance:
    message = (
        f"insufficient balance: {format_usd(balance)} USD available, this request needs {format_usd(needed)} USD "
        f"reserved; ask the operator to credit account {account} (imagegate balance credit)"
    )
    return InsufficientBalance(message, headers=payment_required_header(message, needed))
