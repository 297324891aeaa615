"""Replay under clock skew (issue 13 item 4): the store's clock runs 10 s ahead of the gateway's.

The nonce claim used to carry an absolute expiry from the gateway's clock (`SET NX GET PXAT`). Near
the end of a message's validity that instant is already past on a clock 10 s ahead, so Redis stored
nothing (and said so with a nil, the answer for "first use"): one single-use header was accepted 10
times out of 10. The claim's lifetime is now relative; exactly one of 10 copies gets in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.auth import AuthCode
from gateway.auth.siwx import SiwxAuthenticator
from gateway.errors import AuthError
from gateway.state import MemoryStore, RedisStore, StateStore
from tests.auth.support import NOW, headers, policy, signed, stamp

SKEW = timedelta(seconds=10)  # the store's clock minus the gateway's
LEEWAY = timedelta(seconds=60)
LEFT = timedelta(seconds=5)  # validity left on the gateway's clock when the copies arrive
COPIES = 10


async def _accepted(store: StateStore, clock: Callable[[], datetime], tok: str) -> list[str | None]:
    """Send the same header COPIES times; None per accepted copy, else the 401 code."""
    auth = SiwxAuthenticator(policy(), store, clock=clock)
    outcomes: list[str | None] = []
    for _ in range(COPIES):
        try:
            await auth.authenticate(headers(tok), "127.0.0.1")
            outcomes.append(None)
        except AuthError as exc:
            outcomes.append(exc.auth_code)
    return outcomes


async def test_real_redis_ahead_of_the_gateway_admits_one_copy(redis_client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    seconds, micros = redis_client.time()
    redis_now = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
    gateway_now = redis_now - SKEW  # the gateway's clock is 10 s behind Redis'

    def gateway_clock() -> datetime:  # advances with real time, shifted behind Redis
        return gateway_now + timedelta(seconds=time.monotonic() - started)

    # Expiration Time + leeway is LEFT after the gateway's now, i.e. already past on Redis' clock.
    expires = gateway_now + LEFT - LEEWAY
    tok = signed(issued_at=stamp(expires - timedelta(minutes=5)), expiration_time=stamp(expires))
    store = RedisStore.from_url(redis_url)
    started = time.monotonic()
    try:
        outcomes = await _accepted(store, gateway_clock, tok)
    finally:
        await store.aclose()
    assert outcomes.count(None) == 1, outcomes
    assert outcomes[1:] == [AuthCode.NONCE_REUSED.value] * (COPIES - 1)
    (key,) = redis_client.keys("ig:siwx:n:*")
    assert redis_client.pttl(key) > 0  # stored, and for longer than the validity left


async def test_memory_store_ahead_of_the_gateway_admits_one_copy() -> None:
    gateway_now = NOW + timedelta(minutes=5) + LEEWAY - LEFT  # the default message expires at NOW + 5 min
    store = MemoryStore(clock_ms=lambda: int((gateway_now + SKEW).timestamp() * 1000))
    outcomes = await _accepted(store, lambda: gateway_now, signed())
    assert outcomes.count(None) == 1, outcomes


async def test_a_claim_with_no_validity_left_is_refused_not_skipped() -> None:
    """The replay guard never sends a claim the store would not keep (ttl <= 0): it refuses it."""
    from gateway.auth.codes import SiwxRejected
    from gateway.auth.replay import ReplayGuard

    store = MemoryStore()
    guard = ReplayGuard(store)
    for ttl_ms in (0, -1):
        try:
            await guard.admit(chain="eip155:1", address="0xabc", nonce="abcdefgh1", text="m", ttl_ms=ttl_ms)
        except SiwxRejected as exc:
            assert exc.code is AuthCode.EXPIRED
        else:
            raise AssertionError("an expired claim was admitted")
    assert len(store) == 0
