"""What the app's lifespan builds for limits: the rate limiter and the concurrency gate, on the
process's shared Redis backend (gateway/redis/) when there is one."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from gateway.config.limits import LimitsConfig
from gateway.limits.admission import Admission
from gateway.limits.gcra import MemoryLimiter
from gateway.limits.leases import LocalLeases, make_gate
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.service import RateLimits
from gateway.redis.backend import RedisBackend, RedisUnavailable
from gateway.routing.gate import ConcurrencyGate


@dataclass(slots=True)
class LimitsRuntime:
    rate_limits: RateLimits = field(default_factory=lambda: RateLimits(MemoryLimiter()))
    gate: ConcurrencyGate = field(default_factory=LocalLeases)
    backend: RedisBackend | None = None  # None: the embedded default (per-process state); not owned
    admission: Admission = field(default_factory=Admission)  # bounds the authenticating phase

    @classmethod
    def open(cls, backend: RedisBackend | None, config: LimitsConfig) -> LimitsRuntime:
        """Redis-backed on the app's shared backend when there is one, else in memory."""
        if backend is None:
            return cls()
        gate = make_gate(backend, ttl_seconds=config.leases.ttl_seconds, replicas=config.replicas)
        return cls(rate_limits=RateLimits(RedisLimiter(backend)), gate=gate, backend=backend)

    async def warm(self) -> None:
        """Connect and load the scripts before traffic arrives (a cold burst would otherwise queue
        behind the first connect). Failure is fine here: requests apply the fail mode."""
        if self.backend is not None:
            with contextlib.suppress(RedisUnavailable):
                await self.backend.ping()

    def status(self, probe: dict[str, object]) -> dict[str, object]:
        """For /readyz, from the one readiness write the store made (`probe`: its report) — the
        store and the limits share one Redis client, so one write answers for both: which backend,
        whether Redis takes a write (GCRA and leases write; a PING passes on a paused, full or
        read-only Redis), and the breaker's state. A busy pool is load, not a Redis failure (as for
        the store)."""
        if self.backend is None:
            return {"kind": "memory", "ok": True}
        report: dict[str, object] = {"kind": "redis", "ok": bool(probe["ok"])}
        for key in ("error", "busy"):
            if key in probe:
                report[key] = probe[key]
        report["breaker"] = self.backend.breaker.state
        return report
