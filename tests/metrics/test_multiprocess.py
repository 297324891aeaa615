"""`imagegate serve --workers 2`: metrics are aggregated across workers (Prometheus multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import MOCK_ROUTING
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _generated(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "imagegate_requests"
        for sample in family.samples
        if sample.name == "imagegate_requests_total" and sample.labels.get("status") == "200"
        and sample.labels.get("route") == "/api/v1/image/generate"
    )  # fmt: skip


def test_two_workers_report_one_sum(tmp_path: Path) -> None:
    config = tmp_path / "routing.yaml"
    config.write_text(MOCK_ROUTING)  # the mock provider, auth disabled
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "IMAGEGATE_CONFIG")
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port), "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "gateway never came up"
                time.sleep(0.2)
        body = {"model": "mock-image", "prompt": "a red square"}
        for _ in range(20):  # a fresh connection each time, so the kernel spreads them over workers
            with httpx.Client(timeout=30) as client:
                assert client.post(f"{base}/api/v1/image/generate", json=body).status_code == 200
        for _ in range(6):  # whichever worker answers /metrics reports the sum over both
            with httpx.Client(timeout=10) as client:
                response = client.get(f"{base}/metrics")
            assert response.status_code == 200
            assert _generated(response.text) == 20
            assert "imagegate_requests_in_flight" in response.text
    finally:
        server.terminate()
        server.wait(timeout=20)
