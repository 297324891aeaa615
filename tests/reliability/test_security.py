"""Security scenarios (reference/reliability.md 6.4): secret canaries, log injection.

Secrets: a canary value is configured as the Redis password (`requirepass` on our own server) and,
once provider adapters exist, as a provider key; then a full scenario run (success, bad input,
unknown model, Redis killed and restarted, readiness, metrics, schema) must not show the canary in
any response body or header, any log line (the gateways' captured stdout/stderr) or any metric.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.fake_upstream import Behaviour, FakeUpstream, Fault
from tests.reliability.load import GENERATE, LoadReport, body_for, run_load
from tests.reliability.scenario import AUTH_ON, Wallet, routing_yaml
from tests.support.redis_server import free_port

pytestmark = pytest.mark.reliability

CANARY = "CANARY-7f3a9c1e-do-not-log"


def everything_seen(report: LoadReport) -> list[str]:
    seen = []
    for outcome in report.outcomes:
        seen.append(outcome.body.decode("utf-8", "replace"))
        seen.extend(f"{k}: {v}" for k, v in outcome.headers.items())
    return seen


def get_all(url: str, paths: list[str]) -> list[str]:
    seen = []
    for path in paths:
        response = httpx.get(url + path, timeout=10)
        seen.append(response.text)
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    return seen


def test_redis_password_canary_never_leaks(tmp_path: Path) -> None:
    redis = ControlledRedis(free_port(), password=CANARY).start()
    try:
        with GatewayCluster(1, routing_yaml(), tmp_path, redis_url=redis.url, log_level="debug") as cluster:
            url = cluster.urls[0]
            seen: list[str] = []
            ok = asyncio.run(run_load([url], 10, 2, body_for, keep_body=True))
            assert ok.statuses() == {200: 10}
            bad = asyncio.run(run_load([url], 4, 2, lambda i: {"model": "nope", "prompt": "", "n": 99}))
            seen += everything_seen(ok) + everything_seen(bad)
            seen += get_all(url, ["/readyz", "/metrics", "/schema/openapi.json", "/api/v1/models"])
            redis.kill()
            seen += get_all(url, ["/readyz", "/metrics"])
            down = asyncio.run(run_load([url], 4, 2, body_for, keep_body=True))
            seen += everything_seen(down)
            redis.restart()
            time.sleep(0.3)  # let the client reconnect before the last round
            again = asyncio.run(run_load([url], 4, 2, body_for, keep_body=True))
            seen += everything_seen(again) + get_all(url, ["/readyz", "/metrics"])
            logs = cluster.logs()
    finally:
        redis.stop()
    assert "store: redis" in logs  # the gateway really used the password-protected Redis
    leaks = [text for text in seen if CANARY in text]
    log_leaks = [line for line in logs.splitlines() if CANARY in line]
    assert leaks == [] and log_leaks == []
    figures.record(
        "S6 canary: Redis password",
        responses_and_headers_scanned=len(seen),
        log_lines_scanned=len(logs.splitlines()),
        occurrences=len(leaks) + len(log_leaks),
    )


FORGED = "FORGED-ENTRY level=CRITICAL imagegate: admin logged in"
INJECTIONS = [
    f"\n{FORGED}",
    f"\r\n{FORGED}",
    f"\x1b[2K\r{FORGED}",
    f'"}}\n{{"level": "CRITICAL", "msg": "{FORGED}"}}',
]


def test_log_lines_cannot_be_forged(tmp_path: Path) -> None:
    """Prompt, user, metadata, model and path carry CR/LF, ANSI and fake-JSON payloads; no log line
    may begin with the forged text and no raw escape byte may reach the log."""
    providers = {
        "mock": {"adapter": "mock", "settings": {"max_n": 4}},
        "broken": {"adapter": "mock", "settings": {"failure_rate": 1.0, "failure_class": "caller_fault"}},
    }
    models = {
        "mock-image": {"deployments": [{"provider": "mock", "model": "mock-v1"}]},
        "broken-image": {"deployments": [{"provider": "broken", "model": "broken-v1"}]},
    }
    wallet = Wallet()
    text = routing_yaml(providers=providers, models=models, auth=AUTH_ON)
    with GatewayCluster(1, text, tmp_path, log_level="debug") as cluster:
        url = cluster.urls[0]
        statuses = []
        with httpx.Client(base_url=url, timeout=30, headers=wallet.header()) as client:
            for payload in INJECTIONS:
                envelope = {"message": f"gateway.test wants you{payload}", "signature": payload}
                siwx = base64.b64encode(json.dumps(envelope).encode()).decode()
                body = {"model": "mock-image", "prompt": "p", "user": payload}
                statuses.append(
                    client.post(GENERATE, json=body, headers={"Sign-In-With-X": siwx}).status_code
                )
                for model in ("mock-image", "broken-image", payload):
                    body = {
                        "model": model,
                        "prompt": f"p{payload}",
                        "user": payload,
                        "metadata": {payload: payload},
                    }
                    statuses.append(client.post(GENERATE, json=body, headers=wallet.header()).status_code)
                statuses.append(
                    client.post(GENERATE + "%0A" + FORGED.replace(" ", "%20"), json={}).status_code
                )
                statuses.append(
                    client.post(
                        GENERATE,
                        content=json.dumps({"prompt": payload}) + payload,
                        headers={"content-type": "application/json"},
                    ).status_code
                )
        logs = cluster.logs()
    assert 500 not in statuses and 200 in statuses and 401 in statuses
    lines = logs.splitlines()
    forged = [line for line in lines if line.lstrip("\r").startswith(("FORGED", '{"level": "CRITICAL"'))]
    assert forged == []
    assert "\x1b" not in logs and "\r" not in logs
    figures.record(
        "S8 log injection",
        requests=len(statuses),
        log_lines=len(lines),
        forged_lines=len(forged),
        lines_mentioning_payload_escaped=sum(1 for line in lines if FORGED in line),
    )


PROVIDER_CANARY = "sk-CANARY-3e5d7f9b1a2c-provider-key"
USERINFO_CANARY = "CANARY-relay-password-5b6c"
FAULT_MIX = (
    (0.15, Fault.status_code(503)),
    (0.10, Fault.status_code(429, retry_after=0)),
    (0.05, Fault.status_code(401)),
    (0.05, Fault.status_code(500)),
    (0.05, Fault(kind="reset_before_response")),
    (0.05, Fault(kind="malformed_json")),
    (0.05, Fault(kind="no_image")),
    (0.05, Fault(kind="wrong_content_type")),
    (0.05, Fault(kind="redirect", location="http://127.0.0.2:9/steal")),
)


def test_canaries_survive_a_full_fault_run(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """S6: a fake provider key and a Redis password, both canaries, through every upstream fault mode,
    a Redis outage and every GET route: in no response body or header, no log line, no metric."""
    from tests.reliability.test_upstream_faults import KEY_ENV, config

    fake_upstream.configure(Behaviour(faults=FAULT_MIX, seed=5))
    redis = ControlledRedis(free_port(), password=CANARY).start()
    try:
        # The fallback is a relay with basic auth in its base_url: a third canary, in a URL.
        relay = second_upstream.url.replace("http://", f"http://relay:{USERINFO_CANARY}@") + "/v1"
        text = config(fake_upstream, second_upstream).replace(second_upstream.url + "/v1", relay)
        assert relay in text
        env = {KEY_ENV: PROVIDER_CANARY}
        with GatewayCluster(
            1, text, tmp_path, redis_url=redis.url, extra_env=env, log_level="debug"
        ) as cluster:
            url = cluster.urls[0]
            body = lambda i: body_for(i, model="fake-image", tag="canary")  # noqa: E731
            mixed = asyncio.run(run_load([url], 60, 6, body, keep_body=True))
            seen = everything_seen(mixed) + get_all(url, GET_ROUTES)
            redis.kill()
            down = asyncio.run(run_load([url], 4, 2, body, keep_body=True))
            seen += everything_seen(down) + get_all(url, ["/readyz", "/metrics"])
            redis.restart()
            fake_upstream.configure(Behaviour(faults=((1.0, Fault.status_code(401)),)))
            second_upstream.configure(Behaviour(faults=((1.0, Fault.status_code(401)),)))
            dead = asyncio.run(run_load([url], 4, 2, body, keep_body=True))  # both keys "rejected"
            seen += everything_seen(dead) + get_all(url, GET_ROUTES)
            metrics_text = httpx.get(url + "/metrics", timeout=5).text
            logs = cluster.logs()
    finally:
        redis.stop()
    sent = [
        r for r in fake_upstream.snapshot().requests if PROVIDER_CANARY in r.headers.get("authorization", "")
    ]
    # Half the 60 requests at least: retries add calls, an open breaker or a loaded box removes some
    # (49-51 seen under load); what matters is that the canary key really went out, many times.
    assert len(sent) >= 30, "the canary key must really be in use, or this proves nothing"
    assert len(set(mixed.statuses())) >= 2  # the fault mix really produced failures and successes
    assert second_upstream.snapshot().submits > 0  # the relay (with its URL password) was used
    canaries = (CANARY, PROVIDER_CANARY, USERINFO_CANARY)
    leaks = [text for text in seen if any(c in text for c in canaries)]
    log_leaks = [line for line in logs.splitlines() if any(c in line for c in canaries)]
    assert (leaks, log_leaks) == ([], [])
    assert not any(c in metrics_text for c in canaries)
    figures.record(
        "S6 canaries through a full fault run",
        requests=len(mixed.outcomes) + len(down.outcomes) + len(dead.outcomes),
        statuses=dict(mixed.statuses() + down.statuses() + dead.statuses()),
        upstream_calls_carrying_key=len(sent),
        texts_scanned=len(seen),
        log_lines_scanned=len(logs.splitlines()),
        occurrences=len(leaks) + len(log_leaks),
    )


GET_ROUTES = ["/readyz", "/healthz", "/metrics", "/schema/openapi.json", "/api/v1/models"]


def test_provider_error_text_cannot_forge_log_lines(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    """A provider's 400 message is untrusted text that the gateway logs ("rejected our request as
    invalid: ..."); CR/LF, ANSI and fake-JSON in it must not start a log line of their own."""
    from tests.reliability.test_upstream_faults import KEY_ENV, config

    script = tuple(Fault.status_code(400, message=f"Invalid size{payload}") for payload in INJECTIONS)
    fake_upstream.configure(Behaviour(script=script))
    with GatewayCluster(
        1, config(fake_upstream, None), tmp_path, extra_env={KEY_ENV: "sk-x"}, log_level="debug"
    ) as cluster:
        report = asyncio.run(
            run_load(cluster.urls, len(INJECTIONS), 1, lambda i: body_for(i, model="fake-image"))
        )
        logs = cluster.logs()
    assert report.statuses() == {400: len(INJECTIONS)}, report.codes()
    lines = logs.splitlines()
    forged = [line for line in lines if line.lstrip("\r").startswith(("FORGED", '{"level": "CRITICAL"'))]
    figures.record(
        "S8 log injection via provider error text",
        provider_400s=len(INJECTIONS),
        log_lines=len(lines),
        forged_lines=len(forged),
        lines_carrying_the_payload_escaped=sum(1 for line in lines if FORGED in line),
        raw_escape_bytes=logs.count("\x1b") + logs.count("\r"),
    )
    assert forged == []
    assert "\x1b" not in logs and "\r" not in logs
