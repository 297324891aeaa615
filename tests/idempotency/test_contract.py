"""The Idempotency-Key claim contract, run against the in-memory twin and a real redis-server
(the `store` fixture): one owner per key under concurrency, 409 while running, 422 on another
body, replay after completion, release after an early failure, per-account scope, TTLs, caps."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config.idempotency import IdempotencyConfig
from gateway.errors import (
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyReplayUnavailable,
    InvalidRequest,
)
from gateway.idempotency import Idempotency, Record, fingerprint, key_from_headers
from gateway.state import MemoryStore
from gateway.state.base import StateStore

CONFIG = IdempotencyConfig(ttl_seconds=3600, in_flight_seconds=60, max_response_bytes=4096)
IN_FLIGHT_MS = 60_000
FP = fingerprint({"prompt": "a cat", "n": 1})


async def _claim(idem: Idempotency, *, key: str = "k-1", account: str = "acct-a", fp: str = FP):  # type: ignore[no-untyped-def]
    return await idem.claim(key, account=account, route="/api/v1/image/generate", fingerprint=fp, config=CONFIG)


def _done(fp: str = FP, body: bytes = b'{"ok":true}') -> Record:
    return Record("done", fp, status=200, media_type="application/json", headers=[("x-provider", "mock")], body=body)


async def test_twenty_concurrent_claims_have_exactly_one_owner(store: StateStore) -> None:
    idem = Idempotency(store)
    results = await asyncio.gather(*(_claim(idem) for _ in range(20)), return_exceptions=True)
    owners = [r for r in results if not isinstance(r, BaseException)]
    assert len(owners) == 1 and owners[0].replay is None
    assert all(isinstance(r, IdempotencyInProgress) for r in results if isinstance(r, BaseException))
    refused = [r for r in results if isinstance(r, IdempotencyInProgress)]
    assert len(refused) == 19 and all(r.retry_after for r in refused)


async def test_completed_response_is_replayed_verbatim(store: StateStore) -> None:
    idem = Idempotency(store)
    claim = await _claim(idem)
    await idem.complete(claim, _done(), CONFIG)
    again = await _claim(idem)
    assert again.replay == _done()


async def test_another_body_under_the_same_key_is_422_while_running_and_after(store: StateStore) -> None:
    idem = Idempotency(store)
    claim = await _claim(idem)
    other = fingerprint({"prompt": "a dog", "n": 1})
    with pytest.raises(IdempotencyKeyMismatch) as running:
        await _claim(idem, fp=other)
    assert running.value.param == "Idempotency-Key"
    await idem.complete(claim, _done(), CONFIG)
    with pytest.raises(IdempotencyKeyMismatch):
        await _claim(idem, fp=other)


async def test_released_key_can_be_claimed_again(store: StateStore) -> None:
    idem = Idempotency(store)
    await idem.release(await _claim(idem))
    assert (await _claim(idem)).replay is None


async def test_keys_are_scoped_per_account_and_route(store: StateStore) -> None:
    idem = Idempotency(store)
    await idem.complete(await _claim(idem), _done(body=b"secret of a"), CONFIG)
    theirs = await _claim(idem, account="acct-b")
    assert theirs.replay is None  # account b runs its own request; it never sees a's response
    other_route = await idem.claim("k-1", account="acct-a", route="/v1/images/generations", fingerprint=FP, config=CONFIG)
    assert other_route.replay is None


async def test_response_over_the_cap_is_not_kept_and_never_reruns(store: StateStore) -> None:
    idem = Idempotency(store)
    await idem.complete(await _claim(idem), _done(body=b"x" * (CONFIG.max_response_bytes + 1)), CONFIG)
    with pytest.raises(IdempotencyReplayUnavailable):
        await _claim(idem)


async def test_ttls_running_claim_and_stored_response(store: StateStore) -> None:
    idem = Idempotency(store)
    claim = await _claim(idem)
    now = await store.now_ms()
    if isinstance(store, MemoryStore):
        expiry = store._data[claim.record_id][1]
        assert expiry is not None and 0 < expiry - now <= IN_FLIGHT_MS
        await idem.complete(claim, _done(), CONFIG)
        expiry = store._data[claim.record_id][1]
        assert expiry is not None and IN_FLIGHT_MS < expiry - now <= CONFIG.ttl_seconds * 1000
    else:
        client = store.client  # type: ignore[attr-defined]
        assert 0 < await client.pttl(claim.record_id) <= IN_FLIGHT_MS
        await idem.complete(claim, _done(), CONFIG)
        assert IN_FLIGHT_MS < await client.pttl(claim.record_id) <= CONFIG.ttl_seconds * 1000


async def test_record_id_hides_the_key_and_account(store: StateStore) -> None:
    idem = Idempotency(store)
    claim = await _claim(idem, key="my-secret-key", account="eip155:1:0xabc")
    assert claim.record_id.startswith("ig:idem:") and "secret" not in claim.record_id and "0xabc" not in claim.record_id
    assert len(claim.record_id) == len("ig:idem:") + 64


def test_memory_twin_bounds_the_bytes_it_keeps() -> None:
    small = IdempotencyConfig(max_response_bytes=2048, memory_max_bytes=4096)
    idem = Idempotency(MemoryStore())

    async def scenario() -> list[str]:
        states = []
        for i in range(3):
            claim = await idem.claim(f"k{i}", account="a", route="/r", fingerprint=FP, config=small)
            await idem.complete(claim, _done(body=b"y" * 1500), small)
            try:
                states.append("replay" if (await idem.claim(f"k{i}", account="a", route="/r", fingerprint=FP, config=small)).replay else "?")
            except IdempotencyReplayUnavailable:
                states.append("unavailable")
        return states

    assert asyncio.run(scenario()) == ["replay", "replay", "unavailable"]


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ([], True),
        (["a"], True),
        (["x" * 255], True),
        (["550e8400-e29b-41d4-a716-446655440000"], True),
        (["!~#$%&'*+-.^_`|"], True),
        ([""], False),
        (["x" * 256], False),
        (["has space"], False),
        (["tab\there"], False),
        (["caf\u00e9"], False),
        (["a", "b"], False),
    ],
)
def test_key_syntax(values: list[str], ok: bool) -> None:
    if ok:
        assert key_from_headers(values) == (values[0] if values else None)
    else:
        with pytest.raises(InvalidRequest) as refused:
            key_from_headers(values)
        assert refused.value.param == "Idempotency-Key"


def test_fingerprint_ignores_key_order() -> None:
    assert fingerprint({"a": 1, "b": {"c": 2, "d": 3}}) == fingerprint({"b": {"d": 3, "c": 2}, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


async def test_a_lapsed_claim_never_overwrites_the_newer_one(store: StateStore) -> None:
    idem = Idempotency(store)
    old = await _claim(idem)
    await store.delete(old.record_id)  # as if in_flight_seconds had passed
    new = await _claim(idem)
    assert new.replay is None and new.token != old.token
    await idem.complete(old, _done(body=b"late"), CONFIG)
    await idem.release(old)
    with pytest.raises(IdempotencyInProgress):  # still the newer request's running claim
        await _claim(idem)
    await idem.complete(new, _done(body=b"mine"), CONFIG)
    replayed = (await _claim(idem)).replay
    assert replayed is not None and replayed.body == b"mine"
