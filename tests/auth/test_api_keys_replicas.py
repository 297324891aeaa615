"""Operator API keys on two `imagegate serve` processes sharing one real redis-server
(spec/openai-compat.md, "Authentication on every route"): a key's own limit and its account's limit
hold across replicas, a key with no account is `key:<name>`, expired and model-limited keys are
refused, a reload revokes on every replica, and the SIWX credential order (a bearer SIWX token under
`replay: session`; `Authorization` ignored beside `Sign-In-With-X`). All over real HTTP."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.auth.api_keys import digest
from gateway.client import EvmSigner, sign_header
from tests.acceptance.conftest import Served, start_gateway, stop_gateway

pytestmark = pytest.mark.slow

PATH = "/api/v1/image/generate"
BODY = {"model": "img", "prompt": "a lighthouse", "width": 64, "height": 64}
APP, TWIN, CAPPED, NARROW, OLD = (f"igk_{name}-replica-secret" for name in ("app", "twin", "capped", "narrow", "old"))
ROUTING = f"""
providers:
  mock: {{adapter: mock}}
models:
  img: {{deployments: [{{provider: mock, model: v1}}]}}
  shared: {{deployments: [{{provider: mock, model: v1}}]}}
  other: {{deployments: [{{provider: mock, model: v1}}]}}
auth:
  domains: [gateway.example]
  origins: ["https://gateway.example"]
  replay: session
  api_keys:
    - {{name: app, sha256: {digest(APP)}}}
    - {{name: twin, sha256: {digest(TWIN)}, account: "key:app"}}
    - {{name: capped, sha256: {digest(CAPPED)}, limits: {{rate: 1, period_seconds: 3600, burst: 2}}}}
    - {{name: narrow, sha256: {digest(NARROW)}, models: [other]}}
    - {{name: old, sha256: {digest(OLD)}, expires: "2020-01-01T00:00:00Z"}}
limits:
  account: {{rate: 1000, period_seconds: 1, burst: 1000,
             models: {{shared: {{rate: 1, period_seconds: 3600, burst: 2}}}}}}
"""


@pytest.fixture(scope="module")
def replicas(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Served], Path]]:
    tmp = tmp_path_factory.mktemp("key-replicas")
    config = tmp / "routing.yaml"
    config.write_text(ROUTING)
    redis.Redis.from_url(redis_url).flushdb()
    served: list[Served] = []
    try:
        for _ in range(2):
            served.append(start_gateway(tmp, "--config", str(config), env={"REDIS_URL": redis_url}))
        yield served, config
    finally:
        for gateway in served:
            stop_gateway(gateway)


def post(gateway: Served, secret: str | None, body: dict[str, object] = BODY, path: str = PATH, **headers: str) -> httpx.Response:
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=60)


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_key_limit_holds_across_replicas(replicas: tuple[list[Served], Path]) -> None:
    (a, b), _ = replicas
    assert [post(gw, CAPPED).status_code for gw in (a, b)] == [200, 200]
    refused = [post(gw, CAPPED) for gw in (a, b)]
    assert [r.status_code for r in refused] == [429, 429] and {code(r) for r in refused} == {"rate_limited"}
    assert all('"key";q=2' in r.headers["ratelimit-policy"] for r in refused)


def test_a_key_without_account_is_key_name_across_replicas(replicas: tuple[list[Served], Path]) -> None:
    """`twin` names `key:app` as its account: it spends the same per-account bucket as `app`."""
    (a, b), _ = replicas
    body = {**BODY, "model": "shared"}
    assert post(a, APP, body).status_code == 200
    assert post(b, TWIN, body).status_code == 200
    third = post(a, APP, body)
    assert third.status_code == 429 and "account rate limit" in third.json()["error"]["message"]


def test_expired_and_model_limited_keys(replicas: tuple[list[Served], Path]) -> None:
    (a, b), _ = replicas
    expired = post(b, OLD)
    assert expired.status_code == 401 and code(expired) == "auth_invalid_key" and OLD not in expired.text
    denied = post(a, NARROW)
    assert denied.status_code == 403 and code(denied) == "model_not_allowed"
    openai = post(b, NARROW, {"model": "img", "prompt": "x", "size": "64x64"}, "/v1/images/generations")
    assert openai.status_code == 403
    assert openai.json()["error"] | {"message": ""} == {
        "message": "", "type": "permission_error", "param": None, "code": "model_not_allowed"
    }
    assert post(a, NARROW, {**BODY, "model": "other"}).status_code == 200


def test_a_bearer_siwx_token_in_session_mode_and_the_header_wins(replicas: tuple[list[Served], Path]) -> None:
    (a, b), _ = replicas
    token = sign_header("https://gateway.example" + PATH, EvmSigner.throwaway())
    assert post(a, token).status_code == 200
    assert post(b, token).status_code == 200  # session mode: the token is reusable, on any replica
    # Beside Sign-In-With-X, Authorization is ignored: a junk bearer and the AiMo SDK's `Bearer siwx`.
    for junk in ("igk_not-a-key", "siwx"):
        response = post(a, junk, **{"Sign-In-With-X": token})
        assert response.status_code == 200, response.text
    assert code(post(b, "igk_not-a-key", **{"Sign-In-With-X": "garbage"})) == "auth_malformed"


def test_a_reload_revokes_on_every_replica(replicas: tuple[list[Served], Path]) -> None:
    served, config = replicas
    assert all(post(gw, TWIN, {**BODY, "model": "other"}).status_code == 200 for gw in served)
    config.write_text(ROUTING.replace(f"    - {{name: twin, sha256: {digest(TWIN)}, account: \"key:app\"}}\n", ""))
    for gateway in served:
        before = gateway.log().count("config reloaded")
        gateway.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while gateway.log().count("config reloaded") == before:
            assert time.monotonic() < deadline, gateway.log()
            time.sleep(0.05)
    for gateway in served:
        revoked = post(gateway, TWIN, {**BODY, "model": "other"})
        assert revoked.status_code == 401 and code(revoked) == "auth_invalid_key"
    assert post(served[0], APP, {**BODY, "model": "other"}).status_code == 200
