"""A request's cost: summed from its calls, put on the Result, the metric and the request log line,
and settled against the account's budget reservation (gateway/budgets/).

`metered(job)` wraps the executor in `run`: whatever happens — images, an error, a cancellation —
the reservation made at admission is settled exactly once. A request cancelled while calls were in
flight (the client left) is settled at its reservation: those calls may have been billed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import msgspec

from gateway.budgets import CURRENT, Ticket
from gateway.config.cost import format_usd
from gateway.metrics import COST_USD
from gateway.pricing import Basis, usd_float
from gateway.routing.executor import AttemptRecord, ShardOutcome

log = logging.getLogger("imagegate.requests")


class CallCharge(msgspec.Struct, frozen=True, kw_only=True):
    deployment: str
    provider: str
    model: str
    shard: int
    outcome: str
    micro: int
    basis: Basis


class Cost(msgspec.Struct, frozen=True, kw_only=True):
    micro: int
    basis: Basis  # provider_reported when every charged call said its own; table if any used a price
    calls: list[CallCharge]


def cost_of(attempts: list[AttemptRecord]) -> Cost:
    calls = [
        CallCharge(
            deployment=a.deployment,
            provider=a.provider,
            model=a.model,
            shard=a.shard,
            outcome=a.outcome,
            micro=a.cost_micro,
            basis=a.cost_basis,
        )
        for a in attempts
        if a.outcome != "circuit_open"  # a breaker skip made no call
    ]
    bases = {c.basis for c in calls}
    basis: Basis = "table" if "table" in bases else "provider_reported" if "provider_reported" in bases else "none"
    return Cost(micro=sum(c.micro for c in calls), basis=basis, calls=calls)


@dataclass(slots=True)
class Meter:
    slug: str
    request_id: str
    cost: Cost | None = None
    images: int = 0
    outcome: str = "error"

    def record(self, outcomes: list[ShardOutcome]) -> Cost:
        self.cost = cost_of([a for o in outcomes for a in o.attempts])
        for call in self.cost.calls:
            if call.micro:
                COST_USD.labels(self.slug, call.provider).inc(usd_float(call.micro))
        return self.cost


@asynccontextmanager
async def metered(slug: str, request_id: str) -> AsyncIterator[Meter]:
    ticket = CURRENT.get()
    CURRENT.set(None)  # settled here, once; a later run in this context is not this request
    if ticket is not None:
        ticket.started = True
    meter = Meter(slug, request_id)
    try:
        yield meter
        meter.outcome = "ok"
    except asyncio.CancelledError:
        meter.outcome = "cancelled"
        raise
    finally:
        await asyncio.shield(_close(meter, ticket))


async def _close(meter: Meter, ticket: Ticket | None) -> None:
    if meter.cost is None and meter.outcome == "cancelled" and ticket is not None:
        actual = ticket.reserved  # abandoned with calls in flight: they may have been billed
    else:
        actual = meter.cost.micro if meter.cost is not None else 0
    budgets = ticket.budgets if ticket is not None else None
    charged = await budgets.settle(ticket, actual) if budgets is not None and ticket is not None else actual
    log.info(
        "request %s model=%s outcome=%s images=%d cost_usd=%s basis=%s account=%s reserved_usd=%s charged_usd=%s",
        meter.request_id,
        meter.slug,
        meter.outcome,
        meter.images,
        format_usd(actual),
        meter.cost.basis if meter.cost is not None else "none",
        ticket.account if ticket is not None else "-",
        format_usd(ticket.reserved if ticket is not None else 0),
        format_usd(charged),
    )
