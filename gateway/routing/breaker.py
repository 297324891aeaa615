"""Circuit breakers, one per deployment label, kept across config reloads.

closed --(N consecutive health failures, or failure rate over the window)--> open
open --(open_seconds elapsed)--> half_open: `half_open_probes` calls go through
half_open --(probe succeeds)--> closed;  --(probe fails)--> open again

Only provider-health failures count (policy.counts_for_breaker): connect errors, explicit 5xx,
timeouts. A 4xx, a content-policy refusal or a 429 proves the provider is up, so it counts as a
healthy answer. The clock is injected so tests move time without sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from gateway import metrics
from gateway.config.policy import CircuitBreakerConfig

Clock = Callable[[], float]


class State(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(slots=True)
class Breaker:
    label: str
    state: State = State.CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    probes: int = 0  # calls in flight while half-open
    window: deque[tuple[float, bool]] = field(default_factory=deque)  # (time, failed)


class BreakerRegistry:
    def __init__(self, config: CircuitBreakerConfig | None = None, *, clock: Clock = time.monotonic) -> None:
        self.config = config or CircuitBreakerConfig()
        self._clock = clock
        self._breakers: dict[str, Breaker] = {}

    def configure(self, config: CircuitBreakerConfig) -> None:
        """Adopt a reloaded config; breaker states carry over."""
        self.config = config

    def allow(self, label: str) -> bool:
        """Whether a call to `label` may go out now. A True in half-open takes a probe slot: the
        caller must report the outcome with `record`."""
        if not self.config.enabled:
            return True
        breaker = self._get(label)
        if breaker.state is State.OPEN:
            if self._clock() - breaker.opened_at < self.config.open_seconds:
                return False
            self._move(breaker, State.HALF_OPEN)
        if breaker.state is State.HALF_OPEN:
            if breaker.probes >= self.config.half_open_probes:
                return False
            breaker.probes += 1
        return True

    def record(self, label: str, *, healthy: bool) -> None:
        if not self.config.enabled:
            return
        breaker = self._get(label)
        now = self._clock()
        if breaker.state is State.HALF_OPEN:
            breaker.probes = max(0, breaker.probes - 1)
            self._reset(breaker)
            if healthy:
                self._move(breaker, State.CLOSED)
            else:
                self._open(breaker, now)
            return
        if breaker.state is State.OPEN:
            return  # a call that started before the breaker opened
        breaker.consecutive = 0 if healthy else breaker.consecutive + 1
        breaker.window.append((now, not healthy))
        while breaker.window and breaker.window[0][0] < now - self.config.window_seconds:
            breaker.window.popleft()
        if not healthy and self._should_open(breaker):
            self._open(breaker, now)

    def release(self, label: str) -> None:
        """A call that was let through ended without an answer (cancelled): free its probe slot."""
        breaker = self._get(label)
        if breaker.state is State.HALF_OPEN:
            breaker.probes = max(0, breaker.probes - 1)

    def state(self, label: str) -> State:
        return self._get(label).state

    def snapshot(self) -> dict[str, str]:
        """Deployments whose breaker is not closed (for /readyz)."""
        return {b.label: b.state.name.lower() for b in self._breakers.values() if b.state is not State.CLOSED}

    def retry_in(self, label: str) -> float:
        """Seconds until an open breaker lets a probe through."""
        breaker = self._get(label)
        if breaker.state is not State.OPEN:
            return 0.0
        return max(0.0, breaker.opened_at + self.config.open_seconds - self._clock())

    def _should_open(self, breaker: Breaker) -> bool:
        if breaker.consecutive >= self.config.consecutive_failures:
            return True
        total = len(breaker.window)
        failed = sum(1 for _, bad in breaker.window if bad)
        return total >= self.config.min_requests and failed / total >= self.config.failure_rate

    def _open(self, breaker: Breaker, now: float) -> None:
        breaker.opened_at = now
        self._move(breaker, State.OPEN)

    def _reset(self, breaker: Breaker) -> None:
        breaker.consecutive = 0
        breaker.window.clear()

    def _move(self, breaker: Breaker, state: State) -> None:
        if breaker.state is state:
            return
        breaker.state = state
        if state is State.CLOSED:
            self._reset(breaker)
        metrics.CIRCUIT_STATE.labels(breaker.label).set(state.value)
        metrics.CIRCUIT_TRANSITIONS.labels(breaker.label, state.name.lower()).inc()

    def _get(self, label: str) -> Breaker:
        breaker = self._breakers.get(label)
        if breaker is None:
            breaker = self._breakers[label] = Breaker(label)
        return breaker
