"""The Grafana dashboard and the alert rules name only metrics the gateway really exports (checked
against a live /metrics after a request mix), and the dashboard covers what operators watch."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import yaml
from litestar.testing import AsyncTestClient

from gateway import metrics
from gateway.app import create_app
from gateway.client import EvmSigner, sign_header
from gateway.config import load_config
from gateway.settings import Settings
from tests.deploy.support import ROOT, exported_metric_names, promql_metric_names

DASHBOARD = ROOT / "deploy/grafana/dashboards/imagegate.json"
PROMETHEUS_SERIES = {"up"}  # recorded by Prometheus itself for every scraped target


def panels() -> list[dict[str, Any]]:
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        out.extend([panel, *panel.get("panels", [])])
    return [p for p in out if p.get("type") != "row"]


def alert_exprs() -> list[str]:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.fixture
async def live_exposition() -> AsyncIterator[str]:
    """/metrics of the app on the bundled routing after a mix: signed successes, an unsigned request,
    an unknown model, a bad body, a wrong content type, the catalog and readiness."""
    bundled = load_config(None)
    auth = msgspec.structs.replace(
        bundled.auth, domains=["testserver.local"], origins=["http://testserver.local"]
    )
    app = create_app(Settings(), config=msgspec.structs.replace(bundled, auth=auth))
    url = "http://testserver.local/api/v1/image/generate"

    def signed() -> dict[str, str]:
        return {"Sign-In-With-X": sign_header(url, EvmSigner.throwaway())}

    async with AsyncTestClient(app=app) as client:
        ok = {"model": "mock-image", "prompt": "a lighthouse", "n": 2, "width": 64, "height": 64}
        for _ in range(2):
            assert (await client.post(url, json=ok, headers=signed())).status_code == 200
        assert (await client.post(url, json=ok)).status_code == 401
        assert (
            await client.post(url, json={"model": "nope", "prompt": "x"}, headers=signed())
        ).status_code == 404
        assert (await client.post(url, json={"model": "mock-image"}, headers=signed())).status_code == 400
        assert (await client.post(url, content=b"x", headers=signed())).status_code == 415
        assert (await client.get("/api/v1/models")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        yield response.text


def test_promql_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (model, le) (rate(imagegate_request_duration_seconds_bucket{route="/x"}[5m]))) > 60'
    assert promql_metric_names(expr) == {"imagegate_request_duration_seconds_bucket"}
    expr = "sum by (scope) (rate(a_total[5m])) / ignoring (scope) group_left sum(rate(b_total[$__rate_interval])) > 0.2"
    assert promql_metric_names(expr) == {"a_total", "b_total"}
    assert promql_metric_names('(x > 0) unless on (model) (y offset 1h > 0) or up{job="imagegate"} == 0') == {
        "x",
        "y",
        "up",
    }


def test_live_metrics_expose_every_catalog_collector(live_exposition: str) -> None:
    exported = exported_metric_names(live_exposition)
    catalog = [
        value for value in vars(metrics).values() if hasattr(value, "_name") and hasattr(value, "_type")
    ]
    assert len(catalog) >= 19
    for collector in catalog:
        family = collector._name
        expected = f"{family}_total" if collector._type == "counter" else family
        expected = f"{family}_bucket" if collector._type == "histogram" else expected
        assert expected in exported, f"{family} ({collector._type}) missing from /metrics"
    # Primed at start-up: each configured deployment's circuit is exported before any failure.
    assert 'imagegate_circuit_state{deployment="mock/mock-v1"} 0.0' in live_exposition


def test_every_dashboard_panel_names_only_exported_metrics(live_exposition: str) -> None:
    exported = exported_metric_names(live_exposition) | PROMETHEUS_SERIES
    all_panels = panels()
    assert len(all_panels) >= 15
    for panel in all_panels:
        names: set[str] = set()
        for target in panel["targets"]:
            names |= promql_metric_names(target["expr"])
        assert names, f"panel {panel['title']!r} queries no metric"
        assert names <= exported, f"panel {panel['title']!r} queries unknown series {names - exported}"


def test_every_alert_rule_names_only_exported_metrics(live_exposition: str) -> None:
    exported = exported_metric_names(live_exposition) | PROMETHEUS_SERIES
    for expr in alert_exprs():
        names = promql_metric_names(expr)
        assert names and names <= exported, f"{expr!r}: unknown series {names - exported}"


def test_dashboard_covers_what_operators_watch() -> None:
    used = set()
    for panel in panels():
        for target in panel["targets"]:
            used |= promql_metric_names(target["expr"])
    required = {
        "imagegate_requests_total",  # request rate and status
        "imagegate_request_duration_seconds_bucket",  # latency percentiles per model
        "imagegate_upstream_attempts_total",  # upstream attempts per deployment
        "imagegate_retries_total",
        "imagegate_fallbacks_total",
        "imagegate_circuit_state",
        "imagegate_leases_in_use",
        "imagegate_auth_failures_total",  # auth failures by code
        "imagegate_rate_limited_total",
    }
    assert required <= used, f"no panel for {required - used}"
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['title']!r} overflows the 24-column grid"
    sources = {panel["datasource"]["uid"] for panel in panels()}
    assert sources == {"${datasource}"}
    variable = json.loads(DASHBOARD.read_text())["templating"]["list"][0]
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert variable["current"]["value"] == datasource["datasources"][0]["uid"]
