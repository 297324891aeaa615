"""One contract for every StateStore: the in-memory default and a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from gateway.state import StateStore


async def test_set_then_get_returns_value(store: StateStore) -> None:
    await store.set("ig:test:a", b"1")
    assert await store.get("ig:test:a") == b"1"


async def test_missing_key_is_none(store: StateStore) -> None:
    assert await store.get("ig:test:missing") is None


async def test_ttl_expires_key(store: StateStore) -> None:
    await store.set("ig:test:ttl", b"1", ttl_ms=50)
    await asyncio.sleep(0.12)
    assert await store.get("ig:test:ttl") is None


async def test_delete_reports_existence(store: StateStore) -> None:
    await store.set("ig:test:d", b"1")
    assert await store.delete("ig:test:d") is True
    assert await store.delete("ig:test:d") is False


async def test_set_nx_get_first_claim_returns_none(store: StateStore) -> None:
    assert await store.set_nx_get("ig:test:n", b"digest", ttl_ms=10_000) is None
    assert await store.get("ig:test:n") == b"digest"


async def test_set_nx_get_second_claim_returns_existing_and_keeps_it(store: StateStore) -> None:
    await store.set_nx_get("ig:test:n2", b"first", ttl_ms=10_000)
    assert await store.set_nx_get("ig:test:n2", b"second", ttl_ms=10_000) == b"first"
    assert await store.get("ig:test:n2") == b"first"


async def test_set_nx_get_expires_after_its_relative_ttl(store: StateStore) -> None:
    await store.set_nx_get("ig:test:n3", b"x", ttl_ms=60)
    await asyncio.sleep(0.15)
    assert await store.set_nx_get("ig:test:n3", b"y", ttl_ms=10_000) is None


async def test_set_nx_get_refuses_a_claim_that_would_not_be_stored(store: StateStore) -> None:
    for ttl_ms in (0, -5):
        with pytest.raises(ValueError):
            await store.set_nx_get("ig:test:n4", b"x", ttl_ms=ttl_ms)


async def test_concurrent_claims_admit_exactly_one(store: StateStore) -> None:
    from tests.auth.test_replay import warm_pool

    await warm_pool(store)  # one try per command: open the burst's connections first (CI load)
    results = await asyncio.gather(
        *(store.set_nx_get("ig:test:race", str(i).encode(), ttl_ms=10_000) for i in range(50))
    )
    assert sum(result is None for result in results) == 1


async def test_now_ms_is_close_to_wall_clock(store: StateStore) -> None:
    import time

    assert abs(await store.now_ms() - time.time() * 1000) < 2000


async def test_redis_store_talks_to_real_server(redis_client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from gateway.state import RedisStore

    redis_store = RedisStore.from_url(redis_url)
    await redis_store.set("ig:test:real", b"v")
    await redis_store.aclose()
    assert redis_client.get("ig:test:real") == b"v"
    assert redis_client.info("server")["redis_version"]
