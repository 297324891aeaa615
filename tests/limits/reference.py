"""An independent reference for GCRA: the equivalent token bucket, in exact rational arithmetic.

A bucket of capacity `burst` refills one token per emission interval T; a request of cost c passes iff
at least c tokens are present, and then takes them. GCRA with tolerance (burst-1)·T admits exactly
the same sequences; `retry_after` is the time until c tokens will be present.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass
class TokenBucket:
    emission_us: int
    burst: int
    tokens: Fraction | None = None
    last: int = 0

    def offer(self, now: int, cost: int) -> tuple[bool, int]:
        """(allowed, retry_after_us) for a request of `cost` at time `now` (µs)."""
        if self.tokens is None:
            self.tokens, self.last = Fraction(self.burst), now
        elapsed = max(0, now - self.last)
        self.tokens = min(Fraction(self.burst), self.tokens + Fraction(elapsed, self.emission_us))
        self.last = max(self.last, now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True, 0
        missing = Fraction(cost) - self.tokens
        return False, int(missing * self.emission_us)
