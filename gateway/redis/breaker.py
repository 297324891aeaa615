"""A small circuit breaker in front of Redis: after K consecutive errors, skip Redis for T seconds.
One per process, shared by every Redis user (replay store, limits, leases).

While open, callers apply their fail mode at once instead of each paying the full timeout. After T
one probe call is let through (half-open); its success closes the breaker, its failure re-opens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RedisBreaker:
    def __init__(
        self, *, failures: int = 3, open_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failures
        self._open_seconds = open_seconds
        self._clock = clock
        self._consecutive = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._open_until is None:
            return "closed"
        return "half_open" if self._clock() >= self._open_until else "open"

    def allow(self) -> bool:
        """May the caller try Redis now? In half-open state only one caller (the probe) may."""
        if self._open_until is None:
            return True
        if self._clock() < self._open_until or self._probing:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self._consecutive = 0
        self._open_until = None
        self._probing = False

    def abandon(self) -> None:
        """The call ended without a word from Redis (no free slot, cancelled): no verdict, but a
        half-open probe must not hold the breaker shut for good — the next caller probes again."""
        self._probing = False

    def failure(self) -> None:
        self._consecutive += 1
        self._probing = False
        if self._open_until is not None or self._consecutive >= self._threshold:
            self._open_until = self._clock() + self._open_seconds
