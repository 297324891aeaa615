"""GET /metrics after a representative request mix: every catalog metric is exposed, the request path
is measured, and no label carries an account, an IP address or a prompt."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

import gateway.metrics as catalog
from gateway.app import create_app
from gateway.settings import Settings
from tests.limits.test_limits_api import HeaderAuthenticator
from tests.support.app import MOCK_ROUTING, mock_config
from tests.support.redis_server import free_port

ACCOUNT = "eip155:1:0x5EC12E7AccoUNTCanary000000000000000000001"
PROMPT = "prompt-canary-7f3a lighthouse at dusk"
IP = "198.51.100.77"
LIMITS = """
limits:
  ip: {rate: 1, period_seconds: 3600, burst: 50}
  account: {rate: 1, period_seconds: 3600, burst: 12, cost: images}
"""
# Retries with a budget of one per window (so the second is refused), and a breaker that opens after
# two failures in a row: the mix then exercises the routing engine's retry and circuit metrics too.
RETRY_POLICY = "retry: {attempts: 2, backoff_base_seconds: 0.001, budget_ratio: 0.0, budget_min_retries: 1}\n"
BREAKER_POLICY = "circuit_breaker: {consecutive_failures: 2}\n"
ALLOWED_LABELS = {
    "route", "method", "model", "provider", "deployment", "from_deployment", "to_deployment", "status",
    "outcome", "failure_class", "code", "scope", "reason", "state", "result", "operation", "component",
    "decision", "namespace", "le", "family",
}  # fmt: skip


def _routing() -> str:
    capped = MOCK_ROUTING.replace(
        "    settings: {max_n: 4}\n", "    settings: {max_n: 4}\n    max_concurrency: 2\n", 1
    )
    # MOCK_ROUTING has its own `retry:` line: replace it (a second `retry:` key is a config error).
    retry_line = next(line for line in capped.splitlines(keepends=True) if line.startswith("retry:"))
    return capped.replace(retry_line, RETRY_POLICY, 1) + LIMITS + BREAKER_POLICY


@pytest.fixture
async def client(redis_url: str, redis_client) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def, type-arg]
    app = create_app(Settings(redis_url=redis_url), config=mock_config(_routing()))
    async with AsyncTestClient(app=app) as test_client:
        app.state.services.authenticator = HeaderAuthenticator()
        yield test_client


async def _mix(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    headers = {"x-test-account": ACCOUNT, "x-forwarded-for": IP}
    path = "/api/v1/image/generate"
    ok = [
        {"model": "mock-image", "prompt": PROMPT},
        {"model": "mock", "prompt": PROMPT, "n": 2},
        {"model": "flaky-image", "prompt": PROMPT},  # falls back from broken to mock
    ]
    for body in ok:
        assert (await client.post(path, json=body, headers=headers)).status_code == 200
    assert (
        await client.post(path, json={"model": "dead-image", "prompt": PROMPT}, headers=headers)
    ).status_code == 503  # its only deployment's circuit opened on the flaky model's failures
    assert (
        await client.post(path, json={"model": "no-such-model-canary", "prompt": PROMPT}, headers=headers)
    ).status_code == 404
    assert (
        await client.post(path, json={"model": "mock-image", "prompt": ""}, headers=headers)
    ).status_code == 400
    assert (
        await client.post(path, json={"model": "mock-image", "prompt": PROMPT, "n": 10}, headers=headers)
    ).status_code == 429
    for route in ("/healthz", "/readyz", "/api/v1/models"):
        assert (await client.get(route)).status_code == 200


async def _degraded_mix() -> None:
    """Rate limits against an unreachable Redis: Redis errors and degraded decisions get counted."""
    dead = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(dead, config=mock_config(_routing()))
    async with AsyncTestClient(app=app) as test_client:
        app.state.services.authenticator = HeaderAuthenticator()
        body = {"model": "mock-image", "prompt": PROMPT}
        response = await test_client.post(
            "/api/v1/image/generate", json=body, headers={"x-test-account": ACCOUNT}
        )
        assert response.status_code == 200


async def _auth_mix() -> None:
    """SIWX on: one valid signed request, one forged header (auth successes and failures)."""
    from tests.auth.test_app_auth import BODY as AUTH_BODY
    from tests.auth.test_app_auth import auth_config, sig_header

    app = create_app(Settings(), config=auth_config())
    async with AsyncTestClient(app=app) as test_client:
        path = "/api/v1/image/generate"
        assert (await test_client.post(path, json=AUTH_BODY, headers=sig_header())).status_code == 200
        forged = {"Sign-In-With-X": "bm90IGEgdG9rZW4="}
        assert (await test_client.post(path, json=AUTH_BODY, headers=forged)).status_code == 401


def _catalog_names() -> set[str]:
    names = set()
    for value in vars(catalog).values():
        if isinstance(value, MetricWrapperBase):
            names.add(value._name.removesuffix("_total"))
    return names


async def test_every_metric_is_exposed_and_no_label_identifies_a_caller(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    await _mix(client)
    await _degraded_mix()
    await _auth_mix()
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    names = _catalog_names()
    assert len(names) >= 19
    missing = names - families.keys()
    assert not missing, missing
    empty = {name for name in names if not families[name].samples}
    assert not empty, empty
    for canary in (
        ACCOUNT,
        ACCOUNT.lower(),
        "0x5EC12E7",
        IP,
        "prompt-canary",
        "lighthouse",
        "no-such-model-canary",
    ):
        assert canary.lower() not in text.lower(), canary
    for family in families.values():
        if not family.name.startswith("imagegate_"):
            continue  # the client library's process / platform / gc collectors
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (family.name, sample.labels)
            for value in sample.labels.values():
                assert not re.search(r"\d+\.\d+\.\d+\.\d+|0x[0-9a-fA-F]{8}", value), (family.name, value)


async def test_the_request_path_is_measured(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    await _mix(client)
    text = (await client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    route = "/api/v1/image/generate"
    assert value("imagegate_requests_total", family="canonical", route=route, model="mock-image", status="200") >= 2
    assert value("imagegate_requests_total", family="canonical", route=route, model="other", status="404") >= 1
    assert value("imagegate_requests_total", family="canonical", route=route, model="mock-image", status="429") >= 1
    assert value("imagegate_request_duration_seconds_count", route=route, model="mock-image") >= 4
    assert value("imagegate_requests_in_flight", route=route) == 0
    assert value("imagegate_images_generated_total", model="mock-image", provider="mock") >= 3
    assert value("imagegate_rate_limited_total", scope="account") >= 1
    assert value("imagegate_lease_wait_seconds_count", deployment="mock/mock-v1", result="acquired") >= 3
    assert value("imagegate_leases_in_use", deployment="mock/mock-v1") == 0
    assert (
        value(
            "imagegate_upstream_attempts_total",
            provider="broken",
            deployment="broken/mock-broken",
            outcome="transient",
        )
        >= 1
    )
    assert (
        value(
            "imagegate_fallbacks_total",
            from_deployment="broken/mock-broken",
            to_deployment="mock/mock-v1",
            failure_class="transient",
        )
        >= 1
    )
