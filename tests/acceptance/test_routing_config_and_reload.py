"""Routing config and reload end to end (the "Done when" of issue 5): check-config on the shipped
example and on broken files, a request that falls back (its attempts), and SIGHUP reload on a real
`imagegate serve --config`."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import Served, run_cli, start_gateway, stop_gateway

pytestmark = pytest.mark.slow

FALLBACK_YAML = """
providers:
  down: {adapter: mock, settings: {failure_rate: 1.0, failure_class: transient}}
  up: {adapter: mock}
models:
  flaky-image:
    deployments: [{provider: down, model: d-1}, {provider: up, model: u-1}]
retry: {attempts: 2, backoff_base_seconds: 0.01}
auth: {enabled: false}
"""


def test_check_config_passes_on_the_example_file() -> None:
    done = run_cli("check-config", "deploy/routing.example.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: deploy/routing.example.yaml")
    assert "route: mock/mock-v1 -> mock-backup/mock-v1" in done.stdout


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        (("model: d-1}", "model: d-1, weight: heavy}"), "models.flaky-image.deployments[0].weight"),
        (("provider: up,", "provider: nowhere,"), "models.flaky-image.deployments[1].provider"),
        (("attempts: 2", "atempts: 2"), "retry.atempts"),
        (("attempts: 2", "attempts: 0"), "retry.attempts"),
        (("adapter: mock}", "adapter: dalle}"), "providers.up.adapter"),
        (("adapter: mock}", "adapter: mock, settings: {failure_rate: 2}}"), "providers.up.settings.failure_rate"),
    ],
)
def test_check_config_names_the_bad_path(tmp_path: Path, patch: tuple[str, str], path: str) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(FALLBACK_YAML.replace(*patch))
    done = run_cli("check-config", str(broken))
    assert done.returncode != 0 and f"{broken}: {path}" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def fallback_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    tmp = tmp_path_factory.mktemp("fallback")
    config = tmp / "routing.yaml"
    config.write_text(FALLBACK_YAML)
    served = start_gateway(tmp, "--config", str(config))
    try:
        yield served, config
    finally:
        stop_gateway(served)


def test_request_that_falls_back_lists_its_attempts(fallback_gateway: tuple[Served, Path]) -> None:
    served, _ = fallback_gateway
    body = {"model": "flaky-image", "prompt": "x", "width": 64, "height": 64}
    response = httpx.post(served.generate_url, json=body, timeout=60)
    assert response.status_code == 200, response.text
    metadata = response.json()["provider_metadata"]
    assert (metadata["provider"], metadata["model"]) == ("up", "u-1")
    attempts = [(a["deployment"], a["outcome"], a.get("status")) for a in metadata["attempts"]]
    assert attempts[-1] == ("up/u-1", "ok", None)
    assert attempts[:-1] and all(a == ("down/d-1", "transient", 503) for a in attempts[:-1])


def _wait_for_log(served: Served, text: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in served.log():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{served.log()}"
        time.sleep(0.1)


def test_sighup_swaps_a_valid_file_and_rejects_a_broken_one(fallback_gateway: tuple[Served, Path]) -> None:
    served, config = fallback_gateway
    config.write_text(FALLBACK_YAML.replace("flaky-image:", "renamed-image:"))
    served.process.send_signal(signal.SIGHUP)
    _wait_for_log(served, "models renamed-image")
    body = {"model": "renamed-image", "prompt": "x", "width": 64, "height": 64}
    assert httpx.post(served.generate_url, json=body, timeout=60).status_code == 200
    config.write_text("providers: [\n")
    served.process.send_signal(signal.SIGHUP)
    _wait_for_log(served, "config reload REJECTED")
    assert httpx.post(served.generate_url, json=body, timeout=60).status_code == 200  # old config serves


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        (("attempts: 2", "atempts: 2"), "retry.atempts"),
        (("adapter: mock}", "adapter: mock, settings: {failure_rate: 2}}"), "providers.up.settings.failure_rate"),
    ],
)
def test_serve_refuses_a_broken_file_naming_the_path(tmp_path: Path, patch: tuple[str, str], path: str) -> None:
    from tests.support.redis_server import free_port

    broken = tmp_path / "broken.yaml"
    broken.write_text(FALLBACK_YAML.replace(*patch))
    done = run_cli("serve", "--config", str(broken), "--port", str(free_port()))
    assert done.returncode == 2 and f"{broken}: {path}" in done.stderr, done.stderr
