"""A real Prometheus (Debian's `prometheus` package; scripts/test installs it when it can): the
shipped config and rules pass promtool, the rules' unit tests pass, and a Prometheus on loopback
scrapes two running gateway replicas (sharing one Redis, as in docker-compose.yml), ingests their
series, loads and evaluates every alert rule without error, and alerts when one replica stops."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.client import EvmSigner, sign_header
from tests.deploy.support import ROOT, Proc, background, exported_metric_names, wait_http_ok
from tests.support.redis_server import free_port

pytestmark = pytest.mark.prometheus

PROMETHEUS_DIR = ROOT / "deploy/prometheus"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (scripts/test installs Debian's `prometheus` package when run as root with apt)",
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus not installed (scripts/test installs Debian's `prometheus` package when run as root with apt)",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_promtool_accepts_the_shipped_config_and_rules() -> None:
    config = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout + config.stderr
    rules = promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    count = sum(
        len(g["rules"]) for g in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    )
    assert f"SUCCESS: {count} rules found" in rules.stdout + rules.stderr


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(imagegate_requests_total[5m]) > \n"
    )
    assert promtool("check", "rules", str(broken)).returncode != 0


@needs_promtool
def test_alert_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(PROMETHEUS_DIR / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    shipped = {
        r["alert"]
        for g in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    assert tested == shipped, f"alerts without a firing unit test: {shipped - tested}"


@pytest.fixture
def replicas(redis_url: str) -> Iterator[list[tuple[str, Proc]]]:
    """Two `imagegate serve` replicas as the compose file runs them (its routing file, one shared
    Redis), each on a free loopback port, in subprocesses."""
    urls: list[tuple[str, Proc]] = []
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            port = free_port()
            env = {
                "PATH": str(Path(sys.executable).parent),
                "HOME": "/tmp",
                "IMAGEGATE_CONFIG": str(ROOT / "deploy/routing.yaml"),
                "REDIS_URL": redis_url,
                "IMAGEGATE_LOG_LEVEL": "warning",
            }
            argv = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
            proc = stack.enter_context(background(argv, env=env))
            urls.append((f"http://127.0.0.1:{port}", proc))
            try:
                wait_http_ok(f"{urls[-1][0]}/readyz", proc=proc.process)
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(f"{exc}\n{proc.log()}") from exc
        yield urls


def generated_config(tmp_path: Path, replica_urls: list[str]) -> Path:
    """The shipped prometheus.yml with the replicas' DNS discovery swapped for their loopback addresses."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / f) for f in config["rule_files"]]
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] == "imagegate"]
    job = config["scrape_configs"][0]
    job.pop("dns_sd_configs")
    job["static_configs"] = [{"targets": [url.removeprefix("http://") for url in replica_urls]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    check = promtool("check", "config", str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    return path


def query(api: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{api}/api/v1/query", params={"query": expr}, timeout=5.0)
    response.raise_for_status()
    return response.json()["data"]["result"]  # type: ignore[no-any-return]


def poll(check: Any, *, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


@needs_prometheus
@needs_promtool
def test_prometheus_scrapes_every_replica_and_loads_the_alert_rules(
    tmp_path: Path, replicas: list[tuple[str, Proc]]
) -> None:
    gateway = replicas[0][0]
    # Clients sign for the load balancer's address (the compose routing's auth.domains); the
    # replica checks the signed domain, not the Host it was reached on, exactly as behind nginx.
    signed_for = "http://localhost:8080/api/v1/image/generate"
    ok = {"model": "mock-image", "prompt": "a lighthouse", "width": 64, "height": 64}
    for url, _ in replicas:
        headers = {"Sign-In-With-X": sign_header(signed_for, EvmSigner.throwaway())}
        assert (
            httpx.post(f"{url}/api/v1/image/generate", json=ok, headers=headers, timeout=30.0).status_code
            == 200
        )
    assert httpx.post(f"{gateway}/api/v1/image/generate", json=ok, timeout=30.0).status_code == 401
    exposed = httpx.get(f"{gateway}/metrics", timeout=5.0).text
    gateway_series = {
        n for n in exported_metric_names(exposed) if n.startswith("imagegate_") and f"\n{n}{{" in exposed
    }
    assert {
        "imagegate_requests_total",
        "imagegate_request_duration_seconds_bucket",
        "imagegate_upstream_attempts_total",
        "imagegate_images_generated_total",
        "imagegate_auth_failures_total",
        "imagegate_auth_successes_total",
    } <= gateway_series, sorted(gateway_series)

    port = free_port()
    argv = [
        str(PROMETHEUS),
        f"--config.file={generated_config(tmp_path, [url for url, _ in replicas])}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with background(argv) as proc:
        api = f"http://127.0.0.1:{port}"
        try:
            wait_http_ok(f"{api}/-/ready", proc=proc.process)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{proc.log()}") from exc

        instances = {url.removeprefix("http://") for url, _ in replicas}

        def all_up() -> set[str]:
            up = {r["metric"]["instance"] for r in query(api, 'up{job="imagegate"} == 1')}
            return up if up == instances else set()

        assert poll(all_up) == instances, httpx.get(f"{api}/api/v1/targets").text[:2000]

        def ingested() -> set[str]:
            rows = query(api, 'count by (__name__) ({job="imagegate", __name__=~"imagegate_.+"})')
            names = {row["metric"]["__name__"] for row in rows}
            return names if gateway_series <= names else set()

        names = poll(ingested)
        assert gateway_series <= names, (
            f"Prometheus has {sorted(names)}, gateway exports {sorted(gateway_series)}"
        )

        def images_by_instance() -> dict[str, str]:
            rows = query(api, 'sum by (instance) (imagegate_images_generated_total{job="imagegate"})')
            found = {row["metric"]["instance"]: row["value"][1] for row in rows}
            return found if set(found) == instances else {}

        assert poll(images_by_instance) == dict.fromkeys(instances, "1"), "one image from each replica"
        circuit = query(api, 'imagegate_circuit_state{job="imagegate"}')
        assert sorted(
            (r["metric"]["instance"], r["metric"]["deployment"], r["value"][1]) for r in circuit
        ) == sorted((instance, "mock/mock-v1", "0") for instance in instances), (
            "every replica's series arrive"
        )

        shipped = {
            r["alert"]
            for g in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
            for r in g["rules"]
        }

        def rules_evaluated() -> list[dict[str, Any]]:
            groups = httpx.get(f"{api}/api/v1/rules", timeout=5.0).json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return rules if rules and all(r["health"] != "unknown" for r in rules) else []

        rules = poll(rules_evaluated)
        assert {r["name"] for r in rules} == shipped
        assert all(r["type"] == "alerting" and r["health"] == "ok" for r in rules), [
            (r["name"], r["health"], r.get("lastError")) for r in rules
        ]
        firing = {r["name"] for r in rules if r["state"] != "inactive"}
        assert "ImagegateTargetDown" not in firing

        # Stop one replica: its target goes down and ImagegateTargetDown goes pending for it alone.
        stopped_url, stopped = replicas[1]
        os.killpg(stopped.process.pid, signal.SIGTERM)
        stopped.process.wait(timeout=30)

        def target_down_alerts() -> list[dict[str, Any]]:
            alerts = httpx.get(f"{api}/api/v1/alerts", timeout=5.0).json()["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "ImagegateTargetDown"]

        alerts = poll(target_down_alerts)
        assert [(a["labels"]["instance"], a["state"]) for a in alerts] == [
            (stopped_url.removeprefix("http://"), "pending")
        ]
