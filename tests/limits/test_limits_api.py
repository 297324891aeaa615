"""Rate limits on the request path (in-process app, in-memory limiter unless a Redis URL is given)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.datastructures import Headers
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.principal import Principal
from gateway.settings import Settings
from tests.support.app import MOCK_ROUTING, mock_config
from tests.support.redis_server import free_port

LIMITS = """
limits:
  ip: {rate: 1, period_seconds: 3600, burst: 3}
  account: {rate: 1, period_seconds: 3600, burst: 2, cost: images,
            models: {flaky-image: {rate: 1, period_seconds: 3600, burst: 1}}}
"""
BODY = {"model": "mock-image", "prompt": "a lighthouse"}


class HeaderAuthenticator:
    """Test double: the account is whatever `X-Test-Account` says; records every call."""

    def __init__(self) -> None:
        self.calls = 0

    async def authenticate(self, headers: Headers, client_ip: str) -> Principal:
        self.calls += 1
        return Principal(account=headers.get("x-test-account", "eip155:1:0xA"), chain="eip155:1")


async def _client(
    limits: str, settings: Settings | None = None
) -> AsyncIterator[tuple[AsyncTestClient, HeaderAuthenticator]]:  # type: ignore[type-arg]
    app = create_app(settings or Settings(), config=mock_config(MOCK_ROUTING + limits))
    async with AsyncTestClient(app=app) as client:
        auth = HeaderAuthenticator()
        app.state.services.authenticator = auth
        yield client, auth


@pytest.fixture
async def limited() -> AsyncIterator[tuple[AsyncTestClient, HeaderAuthenticator]]:  # type: ignore[type-arg]
    async for pair in _client(LIMITS):
        yield pair


async def test_account_limit_429_with_retry_after_and_headers(limited) -> None:  # type: ignore[no-untyped-def]
    client, _ = limited
    first = await client.post("/api/v1/image/generate", json=BODY)
    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"ip";q=3;w=10800, "account";q=2;w=7200'
    assert first.headers["ratelimit"] == '"ip";r=2;t=3600, "account";r=1;t=3600'
    assert (await client.post("/api/v1/image/generate", json=BODY)).status_code == 200
    denied = await client.post("/api/v1/image/generate", json=BODY)
    assert denied.status_code == 429 and denied.json()["error"]["code"] == "rate_limited"
    assert 3000 < int(denied.headers["retry-after"]) <= 3600
    assert denied.headers["ratelimit"].endswith('"account";r=0;t=3600')
    # Another account on the same IP is not affected (until the IP's own burst of 3 is spent).
    other = await client.post("/api/v1/image/generate", json=BODY, headers={"x-test-account": "eip155:1:0xB"})
    assert other.status_code == 429 and '"ip";r=0' in other.headers["ratelimit"]


async def test_cost_is_weighted_by_images(limited) -> None:  # type: ignore[no-untyped-def]
    client, _ = limited
    two = await client.post("/api/v1/image/generate", json={**BODY, "n": 2})
    assert two.status_code == 200 and '"account";r=0' in two.headers["ratelimit"]
    assert (await client.post("/api/v1/image/generate", json=BODY)).status_code == 429


async def test_per_model_override_has_its_own_bucket(limited) -> None:  # type: ignore[no-untyped-def]
    client, _ = limited
    flaky = {"model": "flaky-image", "prompt": "x"}
    first = await client.post("/api/v1/image/generate", json=flaky)
    assert first.status_code == 200 and '"account:flaky-image";q=1' in first.headers["ratelimit-policy"]
    assert (await client.post("/api/v1/image/generate", json=flaky)).status_code == 429
    assert (await client.post("/api/v1/image/generate", json=BODY)).status_code == 200  # default bucket


async def test_ip_limit_runs_before_authentication() -> None:
    async for client, auth in _client("limits:\n  ip: {rate: 1, period_seconds: 3600, burst: 2}\n"):
        for _ in range(2):
            assert (await client.post("/api/v1/image/generate", json=BODY)).status_code == 200
        assert auth.calls == 2
        for _ in range(5):  # a flood from one IP never reaches signature verification
            assert (await client.post("/api/v1/image/generate", json=BODY)).status_code == 429
        assert auth.calls == 2


async def test_ip_limit_uses_forwarded_for_only_behind_trusted_proxies() -> None:
    limits = "limits:\n  ip: {rate: 1, period_seconds: 3600, burst: 1}\n  trusted_proxies: [0.0.0.0/0]\n"
    async for client, _ in _client(limits):
        # The test client's peer is "testclient" (not an IP), so XFF is not trusted for it...
        for _ in range(2):
            await client.post(
                "/api/v1/image/generate", json=BODY, headers={"x-forwarded-for": "198.51.100.1"}
            )
        last = await client.post(
            "/api/v1/image/generate", json=BODY, headers={"x-forwarded-for": "198.51.100.2"}
        )
        assert last.status_code == 429


async def test_unlimited_by_default() -> None:
    async for client, _ in _client(""):
        for _ in range(5):
            response = await client.post("/api/v1/image/generate", json=BODY)
            assert response.status_code == 200 and "ratelimit" not in response.headers


async def test_fail_closed_answers_503_without_redis() -> None:
    dead = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    limits = "limits:\n  fail_closed: true\n  account: {rate: 1, burst: 5}\n"
    async for client, _ in _client(limits, dead):
        response = await client.post("/api/v1/image/generate", json=BODY)
        assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
        assert response.headers["retry-after"] == "1"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["limits"]["ok"] is False


async def test_degrades_to_a_per_process_share_without_redis() -> None:
    dead = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    limits = "limits:\n  replicas: 2\n  account: {rate: 1, period_seconds: 3600, burst: 4}\n"
    async for client, _ in _client(limits, dead):
        codes = [(await client.post("/api/v1/image/generate", json=BODY)).status_code for _ in range(4)]
        assert codes == [200, 200, 429, 429]  # burst 4 ÷ 2 replicas
        assert (await client.get("/readyz")).json()["limits"]["ok"] is False


CAPACITY_ROUTING = """
providers:
  slow:
    adapter: mock
    max_concurrency: 1
    lease_wait_seconds: 0.05
    settings: {latency_ms: 300}
  spare:
    adapter: mock
models:
  capped:
    deployments:
      - {provider: slow, model: slow-v1}
  capped-with-fallback:
    deployments:
      - {provider: slow, model: slow-v1}
      - {provider: spare, model: spare-v1}
auth:
  enabled: false
"""


async def _two_at_once(model: str) -> list:  # type: ignore[type-arg]
    import asyncio

    import httpx

    app = create_app(Settings(), config=mock_config(CAPACITY_ROUTING))
    # The test client runs the lifespan; its requests are serialized, so send these two through a
    # plain ASGI transport to the same (started) app, concurrently.
    async with (
        AsyncTestClient(app=app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        body = {"model": model, "prompt": "x"}
        return list(
            await asyncio.gather(*(client.post("/api/v1/image/generate", json=body) for _ in range(2)))
        )


async def test_no_lease_in_time_is_503_provider_capacity() -> None:
    responses = await _two_at_once("capped")
    assert sorted(r.status_code for r in responses) == [200, 503]
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["error"]["code"] == "provider_capacity" and int(refused.headers["retry-after"]) >= 1


async def test_no_lease_in_time_falls_back_when_the_route_allows() -> None:
    responses = await _two_at_once("capped-with-fallback")
    assert [r.status_code for r in responses] == [200, 200]
    providers = sorted(r.json()["provider_metadata"]["provider"] for r in responses)
    assert providers == ["slow", "spare"]
