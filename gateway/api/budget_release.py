"""Release the reservations a request made but never used.

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
