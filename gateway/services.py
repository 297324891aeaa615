"""The long-lived parts a request uses, owned by the app's lifespan and reached via app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.auth.principal import Authenticator
from gateway.budgets import Budgets, MemoryBudgetStore
from gateway.idempotency import Idempotency
from gateway.jobs import JobService
from gateway.limits.runtime import LimitsRuntime
from gateway.routing.executor import Router
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.state.base import StateStore
from gateway.storage import ResultStorage


@dataclass(slots=True)
class Services:
    settings: Settings
    runtime: Runtime  # replaced whole on reload; a request reads it once and keeps its copy
    store: StateStore
    authenticator: Authenticator
    # Routing state that survives reloads: breakers, retry budget and the concurrency gate (the
    # limits work swaps `router.gate` for the Redis-backed one).
    router: Router = field(default_factory=Router.local)
    limits: LimitsRuntime = field(default_factory=LimitsRuntime)  # rate limits + their Redis
    budgets: Budgets = field(default_factory=lambda: Budgets(MemoryBudgetStore()))  # gateway/budgets/
    storage: ResultStorage | None = None  # `storage:` (gateway/storage/); None: no `output_type: url`
    jobs: JobService | None = None  # async jobs (gateway/jobs/), started by the app's lifespan
    idempotency: Idempotency = field(init=False)  # Idempotency-Key claims, in `store`

    def __post_init__(self) -> None:
        self.idempotency = Idempotency(self.store)
