"""Step 10: replay protection under both policies, against every StateStore (memory and real Redis)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.auth import AuthCode
from gateway.auth.message import format_message
from gateway.auth.policy import AuthPolicy
from gateway.errors import AuthError, AuthUnavailable
from gateway.state.base import StateStore, StoreUnavailable
from tests.auth.support import EVM, EVM_OTHER, SOLANA, authenticator, headers, message, policy, signed, token
from tests.auth.test_signatures import high_s_twin, with_v


async def code(store: StateStore, tok: str, pol: AuthPolicy | None = None) -> AuthCode | None:
    try:
        await authenticator(store, pol).authenticate(headers(tok), "127.0.0.1")
    except AuthError as exc:
        return AuthCode(exc.auth_code)
    return None


async def test_single_use_admits_an_envelope_once(store: StateStore) -> None:
    tok = signed()
    assert await code(store, tok) is None
    assert await code(store, tok) is AuthCode.NONCE_REUSED
    assert await code(store, signed(nonce="anotherNonce1")) is None


async def test_session_admits_the_same_envelope_until_it_expires(store: StateStore) -> None:
    session = policy(replay="session")
    tok = signed()
    for _ in range(3):
        assert await code(store, tok, session) is None


@pytest.mark.parametrize("replay", ["single_use", "session"])
async def test_same_nonce_in_a_different_message_is_always_refused(store: StateStore, replay: str) -> None:
    pol = policy(replay=replay)
    assert await code(store, signed(statement="first"), pol) is None
    assert await code(store, signed(statement="second"), pol) is AuthCode.NONCE_REUSED
    assert await code(store, signed(uri="https://gateway.example/other"), pol) is AuthCode.NONCE_REUSED


async def test_nonces_are_per_account(store: StateStore) -> None:
    assert await code(store, signed(EVM)) is None
    assert await code(store, signed(EVM_OTHER)) is None
    assert await code(store, signed(SOLANA)) is None
    assert await code(store, signed(EVM)) is AuthCode.NONCE_REUSED


async def test_address_case_does_not_split_an_evm_account(store: StateStore) -> None:
    assert await code(store, signed(address=EVM.address.lower(), statement="a")) is None
    assert await code(store, signed(statement="b")) is AuthCode.NONCE_REUSED


@pytest.mark.parametrize("replay", ["single_use", "session"])
async def test_re_encoded_evm_signature_is_the_same_envelope(store: StateStore, replay: str) -> None:
    pol = policy(replay=replay)
    text = format_message(message())
    signature = EVM.sign(text.encode())
    parity = bytes.fromhex(signature[2:])[64] - 27
    assert await code(store, token(text, signature=signature), pol) is None
    v_form = token(text, signature=with_v(signature, parity))  # v 27/28 -> 0/1
    expected = AuthCode.NONCE_REUSED if replay == "single_use" else None
    assert await code(store, v_form, pol) is expected
    # The high-s twin never gets as far as the replay store.
    assert await code(store, token(text, signature=high_s_twin(signature)), pol) is AuthCode.INVALID_SIGNATURE


async def test_nonceless_session_messages_key_on_their_digest(store: StateStore) -> None:
    relaxed = policy(replay="session", nonce_required=False)
    first, second = signed(nonce=None, statement="one"), signed(nonce=None, statement="two")
    for tok in (first, first, second, second):
        assert await code(store, tok, relaxed) is None


async def test_rejections_before_the_signature_never_touch_the_store(store: StateStore) -> None:
    forged = token(format_message(message()), signature=EVM_OTHER.sign(format_message(message()).encode()))
    assert await code(store, forged) is AuthCode.INVALID_SIGNATURE
    assert await code(store, signed(domain="evil.example")) is AuthCode.DOMAIN_MISMATCH
    assert await code(store, signed()) is None  # the victim's nonce was not burnt


async def test_replay_key_lives_for_the_remaining_validity_plus_leeway(redis_client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    """A relative TTL: the message's remaining validity on the gateway's clock (Expiration Time +
    leeway - now = 5 min + 60 s) plus one leeway for replicas whose clocks lag, whatever Redis' clock."""
    from gateway.state import RedisStore

    store = RedisStore.from_url(redis_url)
    try:
        assert await code(store, signed()) is None
    finally:
        await store.aclose()
    (key,) = redis_client.keys("ig:siwx:n:*")
    assert key.decode() == f"ig:siwx:n:eip155:1:{EVM.address.lower()}:abcdef0123456789"
    assert (5 * 60 + 60 + 60) * 1000 - 5_000 < redis_client.pttl(key) <= (5 * 60 + 60 + 60) * 1000
    assert len(redis_client.get(key)) == 64  # sha256 hex of the message, never the signature


# --- server-issued nonces ------------------------------------------------------------------------


async def test_issued_nonces_are_required_and_consumed(store: StateStore) -> None:
    pol = policy(require_issued_nonce=True)
    auth = authenticator(store, pol)
    nonce = await auth.replay.issue_nonce()
    assert await code(store, signed(nonce="notIssued123"), pol) is AuthCode.NONCE_UNKNOWN
    assert await code(store, signed(nonce=nonce), pol) is None
    assert await code(store, signed(nonce=nonce), pol) is AuthCode.NONCE_REUSED
    assert await code(store, signed(EVM_OTHER, nonce=nonce), pol) is AuthCode.NONCE_UNKNOWN


async def test_issued_nonce_in_session_mode_allows_the_same_envelope_again(store: StateStore) -> None:
    pol = policy(require_issued_nonce=True, replay="session")
    nonce = await authenticator(store, pol).replay.issue_nonce()
    tok = signed(nonce=nonce)
    assert await code(store, tok, pol) is None
    assert await code(store, tok, pol) is None


# --- failing closed ------------------------------------------------------------------------------


class DownStore(StateStore):
    kind = "down"

    async def ping(self) -> None:
        raise StoreUnavailable("down")

    async def get(self, key: str) -> bytes | None:
        raise StoreUnavailable("down")

    async def set(self, key: str, value: bytes, *, ttl_ms: int | None = None) -> None:
        raise StoreUnavailable("down")

    async def delete(self, key: str) -> bool:
        raise StoreUnavailable("down")

    async def set_nx_get(self, key: str, value: bytes, *, ttl_ms: int) -> bytes | None:
        raise StoreUnavailable("down")

    async def now_ms(self) -> int:
        raise StoreUnavailable("down")

    async def aclose(self) -> None:
        return None


async def test_an_unreachable_store_fails_closed() -> None:
    with pytest.raises(AuthUnavailable):
        await authenticator(DownStore()).authenticate(headers(signed()), "127.0.0.1")
    with pytest.raises(AuthUnavailable):
        await authenticator(DownStore()).replay.issue_nonce()
    # ...but a bad envelope is still a 401, decided before the store is asked.
    assert await code(DownStore(), signed(domain="evil.example")) is AuthCode.DOMAIN_MISMATCH


async def warm_pool(store: StateStore, connections: int = 50) -> None:
    """Open the connections a burst needs before it starts: the store's 0.25 s connect timeout is
    for production, and under CI load 50 simultaneous connects can exceed it (-> 503, by design)."""
    for _ in range(20):
        results = await asyncio.gather(*(store.ping() for _ in range(connections)), return_exceptions=True)
        if not any(isinstance(result, BaseException) for result in results):
            return
    raise AssertionError("could not open the connection pool")


async def test_concurrent_use_of_one_envelope_admits_one(store: StateStore) -> None:
    auth = authenticator(store)
    await warm_pool(store)
    tok = signed()

    async def attempt() -> bool:
        try:
            await auth.authenticate(headers(tok), "127.0.0.1")
        except AuthError:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert results.count(True) == 1


async def test_memory_replay_keys_expire_after_validity_plus_leeway() -> None:
    from gateway.state import MemoryStore
    from tests.auth.support import NOW

    expire_at_ms = int((NOW.timestamp() + 5 * 60 + 60 + 60) * 1000)
    clock = [int(NOW.timestamp() * 1000)]
    store = MemoryStore(clock_ms=lambda: clock[0])
    assert await code(store, signed()) is None
    key = f"ig:siwx:n:eip155:1:{EVM.address.lower()}:abcdef0123456789"
    clock[0] = expire_at_ms - 1
    assert await store.get(key) is not None
    clock[0] = expire_at_ms
    assert await store.get(key) is None
