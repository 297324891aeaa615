"""The nonce endpoint cannot fill the store (issue 13 item 5).

`GET /api/v1/auth/nonce` is unauthenticated and each call stores a 5-minute key. It used to answer
(and store) on every gateway, without limit: one client filled a `noeviction` Redis and every valid
request then got 503. Now: 404 unless `auth.require_issued_nonce`, the IP limit before any write,
and the in-memory store refuses new keys at `max_keys` (never evicting a live replay key).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from gateway.app import create_app
from gateway.auth.replay import ReplayGuard
from gateway.config import parse_config
from gateway.errors import AuthUnavailable
from gateway.settings import Settings
from gateway.state import MemoryStore, StoreFull
from tests.support.app import MOCK_ROUTING
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

NONCE = "/api/v1/auth/nonce"
FLOOD = 200
BURST = 5


def _routing(issued: bool) -> str:
    section = (
        "auth:\n  domains: [gateway.example]\n  origins: ['https://gateway.example']\n"
        f"  require_issued_nonce: {str(issued).lower()}\n"
        f"limits:\n  ip: {{rate: 1, period_seconds: 3600, burst: {BURST}}}\n"
        # Patient Redis calls: on a loaded CI box a 200 ms command timeout would let limits degrade.
        "  redis: {timeout_ms: 3000, pool_wait_ms: 10000}\n"
    )
    return MOCK_ROUTING.replace("auth:\n  enabled: false\n", section)


@pytest.fixture
def gateway(request: pytest.FixtureRequest, redis_client: redis.Redis, redis_url: str) -> Iterator[httpx.Client]:
    """A real uvicorn server on the shared (flushed) redis-server; param: require_issued_nonce."""
    app = create_app(Settings(redis_url=redis_url), config=parse_config(_routing(request.param)))
    with live_server(app, free_port()) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


@pytest.mark.parametrize("gateway", [False], indirect=True)
def test_the_endpoint_is_off_unless_issued_nonces_are_required(
    gateway: httpx.Client, redis_client: redis.Redis
) -> None:
    for _ in range(50):
        response = gateway.get(NONCE)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert redis_client.dbsize() == 0  # nothing stored, not even a rate-limit bucket


@pytest.mark.parametrize("gateway", [True], indirect=True)
def test_a_nonce_flood_is_rate_limited_and_redis_stays_bounded(
    gateway: httpx.Client, redis_client: redis.Redis
) -> None:
    statuses = [gateway.get(NONCE).status_code for _ in range(FLOOD)]
    assert statuses == [200] * BURST + [429] * (FLOOD - BURST)
    denied = gateway.get(NONCE)
    assert denied.json()["error"]["code"] == "rate_limited" and int(denied.headers["retry-after"]) > 0
    assert len(redis_client.keys("ig:siwx:issued:*")) == BURST
    assert redis_client.dbsize() <= BURST + 1  # + the IP's rate-limit bucket
    # Generation keeps its own IP budget: fetching nonces did not use it up.
    assert gateway.post("/api/v1/image/generate", json={"model": "mock", "prompt": "x"}).status_code == 401


# --- the in-memory store is bounded -------------------------------------------------------------


async def test_memory_store_refuses_new_keys_when_full_of_live_ones() -> None:
    clock = [0]
    store = MemoryStore(clock_ms=lambda: clock[0], max_keys=100)
    for i in range(100):
        assert await store.set_nx_get(f"claim:{i}", b"d", ttl_ms=60_000) is None
    with pytest.raises(StoreFull):
        await store.set_nx_get("claim:new", b"d", ttl_ms=60_000)
    with pytest.raises(StoreFull):
        await store.set("issued:new", b"1", ttl_ms=60_000)
    assert len(store) == 100
    # A full store still recognises every claim it holds: nothing was evicted, no replay gets in.
    assert all([await store.set_nx_get(f"claim:{i}", b"x", ttl_ms=60_000) == b"d" for i in range(100)])
    # Expired keys go first: once they expire, new keys fit again.
    clock[0] = 60_000
    assert await store.set_nx_get("claim:new", b"d", ttl_ms=60_000) is None
    assert len(store) == 1


async def test_memory_store_never_exceeds_max_keys_under_a_flood() -> None:
    clock = [0]
    store = MemoryStore(clock_ms=lambda: clock[0], max_keys=1000)
    guard = ReplayGuard(store, require_issued_nonce=True)
    refused = 0
    for step in range(20_000):
        clock[0] = step * 10  # 100 calls a simulated second, keys live 300 s: far more than 1000 fit
        try:
            nonce = await guard.issue_nonce()
        except AuthUnavailable:
            refused += 1
            continue
        if step % 2:  # half are consumed: their heap entries must not pile up either
            await store.delete(f"ig:siwx:issued:{nonce}")
        assert len(store) <= 1000
    assert refused > 0 and len(store) <= 1000 and len(store._expiries) <= 2 * 1000


async def test_a_full_memory_store_fails_claims_closed() -> None:
    """A claim the store cannot hold is refused with 503 auth_unavailable, never admitted."""
    store = MemoryStore(max_keys=1)
    guard = ReplayGuard(store)
    await guard.admit(chain="eip155:1", address="0xabc", nonce="firstNonce1", text="one", ttl_ms=60_000)
    with pytest.raises(AuthUnavailable) as caught:
        await guard.admit(chain="eip155:1", address="0xabc", nonce="secondNonce2", text="two", ttl_ms=60_000)
    assert "full" in caught.value.message and caught.value.retry_after is not None
