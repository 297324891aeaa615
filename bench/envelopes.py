"""Pre-signed SIWX envelopes for the load driver: single-use nonces need one fresh header each.

All signing happens before a timed run (never inside it). Envelopes alternate EVM and Solana
accounts, so both verification paths are in the measured figure. Uses the project's own client
helper (`gateway.client`); if it is not there, `signer_or_none()` returns None and the benchmark
runs with auth disabled and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

try:
    from gateway.client import GENERATE_PATH, EvmSigner, Signer, SolanaSigner, sign_header

    _HAVE_CLIENT = True
except ImportError:  # the SIWX client helper is not on this branch yet
    _HAVE_CLIENT = False

DOMAIN = "bench.local"
ORIGIN = "https://bench.local"
DEFAULT_RATE = 1000.0  # req/s: the floor of the rate envelopes are signed for


@dataclass
class EnvelopeSigner:
    """Signs single-use envelopes on demand (alternating EVM and Solana accounts) and sizes the
    next batch from the rates observed so far, so a run never runs out of fresh nonces."""

    signers: list[Signer]
    lifetime: timedelta = timedelta(minutes=50)  # under the default max_lifetime of 1 h
    rates: dict[int, float] = field(default_factory=dict)

    def budget(self, conns: int, seconds: float) -> int:
        """Envelopes for a run: twice the fastest rate seen so far (at any concurrency, at least
        DEFAULT_RATE) times the duration. A run that still ran out would show 401s as errors."""
        rate = max([DEFAULT_RATE, *self.rates.values()])
        return int(rate * 2 * seconds) + 1000

    def observe(self, conns: int, rps: float) -> None:
        self.rates[conns] = max(rps, self.rates.get(conns, 0.0))

    def sign(self, n: int) -> list[str]:
        url = ORIGIN + GENERATE_PATH
        count = len(self.signers)
        return [sign_header(url, self.signers[i % count], lifetime=self.lifetime) for i in range(n)]


def signer_or_none(accounts: int = 4) -> EnvelopeSigner | None:
    """`accounts` EVM and `accounts` Solana throwaway keys, or None without the client helper."""
    if not _HAVE_CLIENT:
        return None
    signers: list[Signer] = []
    for _ in range(accounts):
        signers += [EvmSigner.throwaway(), SolanaSigner.throwaway()]
    return EnvelopeSigner(signers)
