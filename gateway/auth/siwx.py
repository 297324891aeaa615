"""SiwxAuthenticator: the Sign-In-With-X header -> Principal, in the contract's order (siwx-auth.md).

Cheap checks first (envelope, characters, grammar, domain/URI/chain/address, time, nonce), then the
signature over the exact received bytes, then the replay store — so garbage never reaches Redis and
nobody can burn another account's nonce. Never logs the header, the message or the signature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from litestar.datastructures import Headers

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.auth.envelope import HEADER_NAME, decode_envelope
from gateway.auth.message import parse_message
from gateway.auth.policy import AuthPolicy, check_binding, check_time_and_nonce, epoch_ms
from gateway.auth.principal import Principal
from gateway.auth.replay import ReplayGuard
from gateway.auth.signatures import verify_evm, verify_solana
from gateway.errors import AuthError, AuthUnavailable
from gateway.metrics import AUTH_FAILURES, AUTH_SUCCESSES
from gateway.state.base import StateStore

log = logging.getLogger("imagegate.auth")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Verified:
    """A message whose envelope, rules and signature passed (before the replay check)."""

    principal: Principal
    address: str
    nonce: str | None
    text: str
    expire_at_ms: int  # when this gateway stops accepting the message: Expiration Time + leeway


def verify_token(token: str | None, policy: AuthPolicy, now: datetime) -> Verified:
    """Steps 1-9 (no I/O). Raises SiwxRejected."""
    envelope = decode_envelope(token)
    message = parse_message(envelope.message)
    namespace, chain = check_binding(message, policy)
    expires = check_time_and_nonce(message, policy, now)
    signed = message.text.encode("utf-8")
    if namespace == "eip155":
        address = verify_evm(signed, message.address, envelope.signature)
    else:
        address = verify_solana(signed, message.address, envelope.signature)
    return Verified(
        principal=Principal(account=f"{chain}:{address}", chain=chain),
        address=address,
        nonce=message.nonce,
        text=message.text,
        expire_at_ms=expires + policy.config.leeway_seconds * 1000,
    )


def claim_ttl_ms(verified: Verified, policy: AuthPolicy, now: datetime) -> int:
    """How long the replay key must live, relative to `now` (never an absolute time: the store's
    clock may run ahead of ours, and a key that expires early in the store is a replay window).

    The message's remaining validity on our clock, plus one leeway so a replica whose clock is up to
    `leeway` behind the one that stored the key still finds it. <= 0: already expired (refused)."""
    remaining = verified.expire_at_ms - epoch_ms(now)
    return remaining + policy.config.leeway_seconds * 1000 if remaining > 0 else 0


def _header(headers: Headers) -> str | None:
    values = headers.getall(HEADER_NAME, [])
    if len(values) > 1:
        raise SiwxRejected(AuthCode.MALFORMED, f"more than one {HEADER_NAME} header")
    return values[0] if values else None


class SiwxAuthenticator:
    """The gateway's `Authenticator` when `auth.enabled` (the default)."""

    def __init__(
        self, policy: AuthPolicy, store: StateStore, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.policy = policy
        self.replay = ReplayGuard(
            store, policy=policy.config.replay, require_issued_nonce=policy.config.require_issued_nonce
        )
        self._clock = clock

    async def authenticate(self, headers: Headers, client_ip: str) -> Principal:
        try:
            now = self._clock()
            verified = verify_token(_header(headers), self.policy, now)
            await self.replay.admit(
                chain=verified.principal.chain,
                address=verified.address,
                nonce=verified.nonce,
                text=verified.text,
                ttl_ms=claim_ttl_ms(verified, self.policy, now),
                account=verified.principal.account,
            )
        except SiwxRejected as exc:
            AUTH_FAILURES.labels(exc.code.value).inc()
            log.info("auth rejected: %s (client %s)", exc.code.value, client_ip)
            raise AuthError(
                exc.code.value, exc.message, headers={"WWW-Authenticate": self.policy.challenge}
            ) from None
        except AuthUnavailable:
            AUTH_FAILURES.labels(AuthUnavailable.code).inc()
            raise
        namespace = verified.principal.chain.split(":", 1)[0]
        AUTH_SUCCESSES.labels(namespace).inc()
        log.debug("auth ok: %s", verified.principal.account)
        return verified.principal
