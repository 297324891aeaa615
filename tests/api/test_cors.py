"""`server.cors` (docs/browser.md): preflights pass for the allowed origins with the headers our
clients send, fail for others; answers expose the headers a page needs; no origin allowed by default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import ConfigError, parse_config
from gateway.settings import Settings
from tests.support.app import MOCK_ROUTING

ALLOWED = "https://app.example"
REQUEST_HEADERS = "sign-in-with-x, authorization, content-type, idempotency-key, payment-signature, access-control-expose-headers"
EXPOSED = {"x-request-id", "ratelimit", "ratelimit-policy", "retry-after", "payment-response", "idempotent-replayed", "location"}


def routing(cors: str) -> str:
    return MOCK_ROUTING + f"server:\n  cors: {cors}\n"


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(Settings(), config=parse_config(routing(f"{{allow_origins: [{ALLOWED}]}}")))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": REQUEST_HEADERS}


async def test_preflight_passes_for_an_allowed_origin(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    answer = await client.options("/api/v1/image/generate", headers=preflight(ALLOWED))
    assert answer.status_code in (200, 204)
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {h.strip() for h in REQUEST_HEADERS.split(",")} <= allowed
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer.headers


async def test_preflight_fails_for_another_origin(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    answer = await client.options("/api/v1/image/generate", headers=preflight("https://evil.example"))
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers
    error = answer.json()["error"]  # the spec's error shape, naming the setting
    assert error["code"] == "invalid_request" and "origin" in error["message"] and "server.cors" in error["message"]
    headers = {**preflight(ALLOWED), "Access-Control-Request-Headers": "x-not-ours"}
    refused = await client.options("/api/v1/image/generate", headers=headers)
    assert refused.status_code == 400 and "headers" in refused.json()["error"]["message"]


async def test_an_answer_exposes_the_headers_a_page_reads(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    answer = await client.post(
        "/api/v1/image/generate", json={"model": "mock", "prompt": "x", "width": 64, "height": 64},
        headers={"Origin": ALLOWED},
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert exposed >= EXPOSED
    other = await client.get("/api/v1/models", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_no_origin_is_allowed_by_default() -> None:
    app = create_app(Settings(), config=parse_config(MOCK_ROUTING))
    async with AsyncTestClient(app=app) as client:
        answer = await client.options("/api/v1/image/generate", headers=preflight(ALLOWED))
        assert "access-control-allow-origin" not in answer.headers
        models = await client.get("/api/v1/models", headers={"Origin": ALLOWED})
        assert "access-control-allow-origin" not in models.headers


@pytest.mark.parametrize("origin", ["https://app.example/", "app.example", "https://App.example", "ftp://x.example"])
def test_an_origin_that_is_not_one_is_a_config_error(origin: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(routing(f'{{allow_origins: ["{origin}"]}}'))
    assert caught.value.path.startswith("server.cors") or "allow_origins" in caught.value.message
