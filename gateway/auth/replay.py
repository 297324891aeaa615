"""Step 10: replay protection over any StateStore (Redis, or the in-memory twin).

One key per (account, nonce), value = sha256 of the message bytes (never the signature: signatures
are malleable), written with a single atomic `SET NX GET PX <ttl>` after the signature verified. The
lifetime is relative (the message's remaining validity on the gateway's clock, plus a leeway): an
absolute `PXAT` from our clock expired early whenever the store's clock ran ahead, and the message
could then be replayed for as long as the skew. A claim with no validity left is refused, never sent. nil -> first use; same digest -> the same envelope again (`single_use`: reject,
`session`: accept); different digest -> the nonce was reused in another message: reject.
Server-issued nonces (`require_issued_nonce`) live under their own key for 5 minutes and are
consumed (DEL) on first use. A store error fails closed: AuthUnavailable (503).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.errors import AuthUnavailable
from gateway.limits import one_trip
from gateway.limits.admission import overloaded
from gateway.metrics import DEGRADED_DECISIONS
from gateway.redis import RedisBusy
from gateway.state.base import StateStore, StoreFull, StoreUnavailable
from gateway.state.redis import RedisStore, ScriptArg

ISSUED_NONCE_TTL_MS = 5 * 60 * 1000
# A replay-store outage is usually a blink (failover, restart): ask clients to come back soon.
STORE_RETRY_AFTER_S = 2.0
_PREFIX = "ig:siwx"


@dataclass(frozen=True, slots=True)
class ReplayGuard:
    store: StateStore
    policy: Literal["single_use", "session"] = "single_use"
    require_issued_nonce: bool = False
    # The claim + account-limit script (gateway/limits/one_trip.py), on a single Redis only.
    _one_trip: Callable[[Sequence[str], Sequence[ScriptArg]], Awaitable[Any]] | None = field(
        default=None, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if isinstance(self.store, RedisStore) and not self.store.is_cluster and not self.require_issued_nonce:
            object.__setattr__(self, "_one_trip", self.store.script(one_trip.ONE_TRIP_LUA))

    async def admit(
        self, *, chain: str, address: str, nonce: str | None, text: str, ttl_ms: int, account: str = ""
    ) -> None:
        """Accept this (verified) message once (`single_use`) or until it expires (`session`).

        `ttl_ms`: how long the claim must be remembered from now; <= 0 is refused as expired (a
        claim the store would not keep must not be accepted)."""
        if ttl_ms <= 0:
            raise SiwxRejected(AuthCode.EXPIRED, "the message has expired")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")
        key_nonce = nonce if nonce is not None else digest.decode("ascii")
        key = f"{_PREFIX}:n:{chain}:{address.lower() if chain.startswith('eip155:') else address}:{key_nonce}"
        try:
            previous = await self._claim(key, digest, ttl_ms, account)
            if previous is None and self.require_issued_nonce and not await self._consume(key_nonce):
                raise SiwxRejected(AuthCode.NONCE_UNKNOWN, "this nonce was not issued by the gateway")
        except RedisBusy as exc:  # this process is busy, the store is fine: shed (503 + Retry-After)
            raise overloaded("redis_pool") from exc
        except StoreUnavailable as exc:
            DEGRADED_DECISIONS.labels("auth", "reject").inc()
            raise AuthUnavailable(
                f"authentication is unavailable: the replay store is {_state(exc)}",
                retry_after=STORE_RETRY_AFTER_S,
            ) from exc
        if previous is None:
            return
        if previous != digest:
            raise SiwxRejected(AuthCode.NONCE_REUSED, "this nonce was already used in another message")
        if self.policy == "single_use":
            raise SiwxRejected(AuthCode.NONCE_REUSED, "this signed message was already used")

    async def _claim(self, key: str, digest: bytes, ttl_ms: int, account: str) -> bytes | None:
        """SET NX GET PX; with the account limit in the same round trip when admission offers it."""
        check = one_trip.current()
        plan = check.plan(account) if check is not None and account and self._one_trip is not None else None
        if check is None or plan is None or self._one_trip is None or plan.backend is not self._backend():
            return await self.store.set_nx_get(key, digest, ttl_ms=ttl_ms)
        keys, args = one_trip.script_args(plan, digest, ttl_ms, accept_same=self.policy == "session")
        previous, decision = one_trip.parse_reply(await self._one_trip([key, *keys], args))
        check.planned, check.decision = plan, decision
        return previous

    def _backend(self) -> object:
        return self.store.backend if isinstance(self.store, RedisStore) else None

    async def issue_nonce(self) -> str:
        """A fresh server nonce, remembered for 5 minutes (GET /api/v1/auth/nonce)."""
        nonce = secrets.token_hex(16)
        try:
            await self.store.set(f"{_PREFIX}:issued:{nonce}", b"1", ttl_ms=ISSUED_NONCE_TTL_MS)
        except RedisBusy as exc:
            raise overloaded("redis_pool") from exc
        except StoreUnavailable as exc:
            DEGRADED_DECISIONS.labels("auth", "reject").inc()
            raise AuthUnavailable(
                f"cannot issue a nonce: the replay store is {_state(exc)}", retry_after=STORE_RETRY_AFTER_S
            ) from exc
        return nonce

    async def _consume(self, nonce: str) -> bool:
        return await self.store.delete(f"{_PREFIX}:issued:{nonce}")


def _state(exc: StoreUnavailable) -> str:
    # A full in-memory store refuses new keys (evicting one would allow a replay): also a 503.
    return "full" if isinstance(exc, StoreFull) else "unreachable"
