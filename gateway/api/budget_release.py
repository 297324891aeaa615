"""Reserve a request's budget at admission, and release the reservations it never used.

`reserve_budget` is admission's budget step (gateway/api/admit.py), after the Idempotency-Key claim:
a replay costs nothing and reserves nothing; a request the budget refuses (402) gives its claim
back, so the client may retry under the same key once the account is credited.

Admission reserves a request's maximum cost (gateway/budgets/); the pipeline settles it. When the
request is refused after admission — an idempotency claim, an edit input that does not decode or
cannot be fetched — the pipeline never runs, and without this the reservation would hold the
account's balance until it expires. This middleware gives each HTTP request a list of its
reservations and, once the response is done, releases those the pipeline never took.
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.budgets.service import PENDING, Ticket
from gateway.canonical import ImageRequest
from gateway.errors import GatewayError
from gateway.generation import Route
from gateway.idempotency import Claim
from gateway.runtime import Runtime
from gateway.services import Services


async def reserve_budget(
    services: Services, runtime: Runtime, account: str, route: Route, req: ImageRequest, claim: Claim | None
) -> None:
    if claim is not None and claim.replay is not None:
        return  # the stored answer goes out: no provider call, nothing to pay for
    try:
        await services.budgets.reserve(runtime.config, account, route.model, req)
    except GatewayError:
        if claim is not None:
            await asyncio.shield(services.idempotency.release(claim))
        raise


class ReleaseUnusedReservations:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        tickets: list[Ticket] = []
        token = PENDING.set(tickets)
        try:
            await self.app(scope, receive, send)
        finally:
            PENDING.reset(token)
            for ticket in tickets:
                if ticket.budgets is not None:
                    await asyncio.shield(ticket.budgets.release_unstarted(ticket))
