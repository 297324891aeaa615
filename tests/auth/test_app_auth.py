"""Auth through the app: the 401 shape and challenge, replay, ordering, metrics, the nonce endpoint,
failing closed when Redis stops (and recovering), and 50 concurrent requests with one envelope."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.client import EvmSigner, SolanaSigner, sign_header
from gateway.config import RoutingConfig, parse_config
from gateway.settings import Settings
from tests.support.app import MOCK_ROUTING
from tests.support.redis_server import RedisServer, free_port

URL = "/api/v1/image/generate"
PUBLIC = "https://gateway.example" + URL
BODY = {"model": "mock", "prompt": "a lighthouse", "width": 64, "height": 64}
AUTH = """auth:
  domains: [gateway.example]
  origins: ["https://gateway.example"]
  replay: {replay}
  require_issued_nonce: {issued}
"""


def auth_config(replay: str = "single_use", issued: bool = False) -> RoutingConfig:
    section = AUTH.format(replay=replay, issued=str(issued).lower())
    return parse_config(MOCK_ROUTING.replace("auth:\n  enabled: false\n", section))


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(Settings(), config=auth_config())) as test_client:
        yield test_client


def sig_header(signer: EvmSigner | SolanaSigner | None = None, nonce: str | None = None) -> dict[str, str]:
    return {"Sign-In-With-X": sign_header(PUBLIC, signer or EvmSigner.throwaway(), nonce=nonce)}


class Records(logging.Handler):
    """Collects every record of the `imagegate` loggers (Litestar reconfigures the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def records() -> Iterator[Records]:
    handler, logger = Records(), logging.getLogger("imagegate")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_signed_requests_from_evm_and_solana_generate(client: AsyncTestClient) -> None:
    for signer in (EvmSigner.throwaway(), SolanaSigner.throwaway()):
        response = await client.post(URL, json=BODY, headers=sig_header(signer))
        assert response.status_code == 200, response.text
        assert response.json()["images"][0]["data_url"].startswith("data:image/png;base64,")


async def test_missing_header_is_401_with_challenge(client: AsyncTestClient) -> None:
    before = metric("imagegate_auth_failures_total", {"code": "auth_missing"})
    response = await client.post(URL, json=BODY)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth_missing"
    assert response.headers["www-authenticate"] == (
        'SIWX realm="imagegate", domain="gateway.example", uri="https://gateway.example", '
        'chains="eip155:1 eip155:8453 solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"'
    )
    assert metric("imagegate_auth_failures_total", {"code": "auth_missing"}) == before + 1


async def test_replay_is_401_nonce_reused_and_counted(client: AsyncTestClient) -> None:
    headers = sig_header()
    before = metric("imagegate_auth_successes_total", {"namespace": "eip155"})
    assert (await client.post(URL, json=BODY, headers=headers)).status_code == 200
    assert metric("imagegate_auth_successes_total", {"namespace": "eip155"}) == before + 1
    response = await client.post(URL, json=BODY, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "auth_nonce_reused"
    assert "www-authenticate" in response.headers


async def test_the_request_host_is_never_trusted(client: AsyncTestClient) -> None:
    evil = "https://evil.example" + URL
    headers = {
        "Sign-In-With-X": sign_header(evil, EvmSigner.throwaway()),
        "Host": "evil.example",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "host=evil.example;proto=https",
    }
    response = await client.post(URL, json=BODY, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "auth_domain_mismatch"


async def test_an_invalid_body_does_not_burn_the_nonce(client: AsyncTestClient) -> None:
    headers = sig_header()
    bad = await client.post(URL, json={**BODY, "n": 0}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    assert (await client.post(URL, json=BODY, headers=headers)).status_code == 200


async def test_an_unknown_model_does_not_burn_the_nonce(client: AsyncTestClient) -> None:
    """A typo in `model` is a 404 decided before authentication: the same single-use header then
    works with the right model (it used to be consumed by the 404 request: 401 auth_nonce_reused)."""
    headers = sig_header()
    typo = await client.post(URL, json={**BODY, "model": "mokc"}, headers=headers)
    assert typo.status_code == 404 and typo.json()["error"]["code"] == "model_not_found"
    assert (await client.post(URL, json=BODY, headers=headers)).status_code == 200
    streamed = await client.post(URL, json={**BODY, "model": "mokc", "stream": True}, headers=sig_header())
    assert streamed.status_code == 404 and streamed.json()["error"]["code"] == "model_not_found"


async def test_header_message_and_signature_never_reach_logs_or_responses(
    client: AsyncTestClient, records: Records
) -> None:
    headers = sig_header()
    import base64
    import json

    envelope = json.loads(base64.b64decode(headers["Sign-In-With-X"]))
    await client.post(URL, json=BODY, headers=headers)
    replay = await client.post(URL, json=BODY, headers=headers)
    assert "auth rejected: auth_nonce_reused" in records.text  # the log does see auth events
    for secret in (headers["Sign-In-With-X"], envelope["signature"], envelope["signature"][2:40]):
        assert secret not in records.text and secret not in replay.text
    assert "Nonce:" not in records.text


async def test_nonce_endpoint_and_required_issued_nonces() -> None:
    app = create_app(Settings(), config=auth_config(issued=True))
    async with AsyncTestClient(app=app) as client:
        issued = (await client.get("/api/v1/auth/nonce")).json()
        assert issued["domain"] == "gateway.example" and issued["uri"] == "https://gateway.example"
        assert issued["chains"][0] == "eip155:1" and len(issued["nonce"]) == 32
        assert issued["issued_at"] < issued["expiration_time"]
        unknown = await client.post(URL, json=BODY, headers=sig_header())
        assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "auth_nonce_unknown"
        ok = await client.post(URL, json=BODY, headers=sig_header(nonce=issued["nonce"]))
        assert ok.status_code == 200
        again = await client.post(URL, json=BODY, headers=sig_header(nonce=issued["nonce"]))
        assert again.json()["error"]["code"] == "auth_nonce_unknown"  # consumed (other throwaway account)


async def test_auth_disabled_only_explicitly_and_loudly(records: Records) -> None:
    disabled = parse_config(MOCK_ROUTING)
    async with AsyncTestClient(app=create_app(Settings(), config=disabled)) as client:
        assert (await client.post(URL, json=BODY)).status_code == 200
        assert (await client.get("/api/v1/auth/nonce")).status_code == 404
    assert "imagegate WARNING AUTHENTICATION IS DISABLED" in records.text
    assert parse_config(MOCK_ROUTING.replace("auth:\n  enabled: false\n", "")).auth.enabled is True


@pytest.mark.usefixtures("redis_client")
async def test_fifty_concurrent_requests_with_one_envelope_admit_exactly_one(redis_url: str) -> None:
    app = create_app(Settings(redis_url=redis_url), config=auth_config())
    headers = sig_header()
    async with AsyncTestClient(app=app) as client:
        # Open the pool's connections first (in the app's loop: /readyz pings the store); see warm_pool.
        for _ in range(20):
            ready = await asyncio.gather(*(client.get("/readyz") for _ in range(50)))
            if all(r.status_code == 200 for r in ready):
                break
        responses = await asyncio.gather(*(client.post(URL, json=BODY, headers=headers) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 49
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 401} == {"auth_nonce_reused"}


async def test_redis_stopped_mid_test_fails_closed_then_recovers() -> None:
    port = free_port()
    server = RedisServer(port).start()
    app = create_app(Settings(redis_url=server.url), config=auth_config())
    try:
        async with AsyncTestClient(app=app) as client:
            assert (await client.post(URL, json=BODY, headers=sig_header())).status_code == 200
            server.stop()
            down = await client.post(URL, json=BODY, headers=sig_header())
            assert down.status_code == 503 and down.json()["error"]["code"] == "auth_unavailable"
            assert down.headers["retry-after"] == "2"
            assert (await client.get("/api/v1/auth/nonce")).status_code == 404  # not issuing nonces
            forged = await client.post(URL, json=BODY, headers={"Sign-In-With-X": "garbage"})
            assert forged.status_code == 401  # decided without Redis
            server = RedisServer(port).start()
            assert (await client.post(URL, json=BODY, headers=sig_header())).status_code == 200
    finally:
        server.stop()
