"""Metrics and the request log name the route family (`canonical` /api, `openai` /v1, `other`)
without a new unbounded label, and an API key (right or wrong) never appears in a log line, a
metric, an error body or `check-config`'s output — only the key's name (spec/openai-compat.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.metrics import route_family
from gateway.app import create_app
from gateway.auth.api_keys import digest
from gateway.cli import main
from gateway.config import parse_config
from gateway.settings import Settings

SECRET, WRONG = "igk_family-canary-secret", "igk_wrong-canary-secret"
ROUTING = f"""
providers:
  mock: {{adapter: mock}}
models:
  img: {{deployments: [{{provider: mock, model: v1}}]}}
auth:
  api_keys:
    - {{name: fam, sha256: {digest(SECRET)}}}
"""


def test_route_family_is_one_of_three() -> None:
    assert [route_family(p) for p in ("/v1", "/v1/images/edits", "/api/v1/image/generate", "/healthz", "/v1x")] == [
        "openai", "openai", "canonical", "other", "other"
    ]


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_family_in_metrics_and_log_and_no_key_anywhere() -> None:
    bodies: list[str] = []
    app = create_app(Settings(), config=parse_config(ROUTING))  # configures logging: attach after it
    recorder, logger = Recorder(), logging.getLogger("imagegate")
    logger.addHandler(recorder)
    try:
        async with AsyncTestClient(app=app) as client:
            for secret in (SECRET, WRONG):
                headers = {"Authorization": f"Bearer {secret}"}
                v1 = await client.post("/v1/images/generations", headers=headers, json={"model": "img", "prompt": "x", "size": "64x64"})
                api = await client.post("/api/v1/image/generate", headers=headers, json={"model": "img", "prompt": "x", "width": 64, "height": 64})
                bodies += [v1.text, api.text, str(v1.headers), str(api.headers)]
            metrics = (await client.get("/metrics")).text
    finally:
        logger.removeHandler(recorder)
    assert [v1.status_code, api.status_code] == [401, 401]  # the wrong key, last
    requests = {
        (s.labels["family"], s.labels["route"], s.labels["status"])
        for f in text_string_to_metric_families(metrics) if f.name == "imagegate_requests"
        for s in f.samples if s.name == "imagegate_requests_total" and s.value > 0
    }
    assert ("openai", "/v1/images/generations", "200") in requests
    assert ("canonical", "/api/v1/image/generate", "401") in requests
    lines = [record.getMessage() for record in recorder.records]
    access = [r.getMessage() for r in recorder.records if r.name == "imagegate.access"]
    assert any("/v1/images/generations 200 family=openai" in line and "principal=key:fam" in line for line in access)
    assert any("/api/v1/image/generate 401 family=canonical" in line for line in access)
    everything = "\n".join([*lines, metrics, *bodies])
    for canary in (SECRET, WRONG, "canary-secret"):
        assert canary not in everything


def test_check_config_names_keys_never_their_secret_or_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, pasted = tmp_path / "good.yaml", tmp_path / "pasted.yaml"
    good.write_text(ROUTING)
    pasted.write_text(ROUTING.replace(digest(SECRET), SECRET))  # the secret pasted where the digest goes
    assert main(["check-config", str(good)]) == 0
    assert main(["check-config", str(pasted)]) != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "fam" in text and "api_keys[0].sha256" in text
    assert SECRET not in text and digest(SECRET) not in text
