"""What the app's lifespan builds for limits: the rate limiter, the concurrency gate, their Redis."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from gateway.config.limits import LimitsConfig
from gateway.limits.admission import Admission
from gateway.limits.backend import RedisBackend, RedisUnavailable
from gateway.limits.gcra import MemoryLimiter
from gateway.limits.leases import LocalLeases, make_gate
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.service import RateLimits
from gateway.routing.gate import ConcurrencyGate


@dataclass(slots=True)
class LimitsRuntime:
    rate_limits: RateLimits = field(default_factory=lambda: RateLimits(MemoryLimiter()))
    gate: ConcurrencyGate = field(default_factory=LocalLeases)
    backend: RedisBackend | None = None  # None: the embedded default (per-process state)
    admission: Admission = field(default_factory=Admission)  # bounds the authenticating phase

    @classmethod
    def open(cls, redis_url: str | None, config: LimitsConfig) -> LimitsRuntime:
        """Redis-backed when a URL is given (`redis+cluster://` for Redis Cluster), else in memory."""
        if not redis_url:
            return cls()
        backend = RedisBackend.from_url(redis_url, config.redis)
        gate = make_gate(backend, ttl_seconds=config.leases.ttl_seconds, replicas=config.replicas)
        return cls(rate_limits=RateLimits(RedisLimiter(backend)), gate=gate, backend=backend)

    async def warm(self) -> None:
        """Connect and load the scripts before traffic arrives (a cold burst would otherwise queue
        behind the first connect). Failure is fine here: requests apply the fail mode."""
        if self.backend is not None:
            with contextlib.suppress(RedisUnavailable):
                await self.backend.ping()

    async def status(self, probe_key: str = "ig:readyz:limits") -> dict[str, object]:
        """For /readyz: which backend, whether Redis takes a write (GCRA and leases write; a PING
        passes on a paused, full or read-only Redis), and the breaker's state."""
        if self.backend is None:
            return {"kind": "memory", "ok": True}
        report: dict[str, object] = {"kind": "redis", "ok": True}
        try:
            await self.backend.call("ready", lambda client: client.set(probe_key, b"1", px=5000))
        except RedisUnavailable as exc:
            report.update(ok=False, error=str(exc))
        report["breaker"] = self.backend.breaker.state
        return report

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()
