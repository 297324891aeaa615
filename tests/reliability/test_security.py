"""Security scenarios (reference/reliability.md 6.4): secret canaries, log injection.

Secrets: a canary value is configured as the Redis password (`requirepass` on our own server) and,
once provider adapters exist, as a provider key; then a full scenario run (success, bad input,
unknown model, Redis killed and restarted, readiness, metrics, schema) must not show the canary in
any response body or header, any log line (the gateways' captured stdout/stderr) or any metric.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.load import GENERATE, LoadReport, body_for, run_load
from tests.reliability.scenario import routing_yaml
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
    with GatewayCluster(
        1, routing_yaml(providers=providers, models=models), tmp_path, log_level="debug"
    ) as cluster:
        url = cluster.urls[0]
        statuses = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for payload in INJECTIONS:
                for model in ("mock-image", "broken-image", payload):
                    body = {
                        "model": model,
                        "prompt": f"p{payload}",
                        "user": payload,
                        "metadata": {payload: payload},
                    }
                    statuses.append(client.post(GENERATE, json=body).status_code)
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
    assert 500 not in statuses
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
