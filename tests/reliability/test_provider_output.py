"""Hostile provider output through the real request path (issue 14, items 1-3): `imagegate serve`
subprocesses -> `openai` adapter (family `compatible`) -> the fake upstream on loopback.

Images that do not decode and bodies that break a bound are the routing-policy row "a body that
fails to decode": no retry, fall back, 502 `upstream_error` when nothing is left. Memory is read
from the gateway process itself (/proc/<pid>/status VmHWM, the peak resident set).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import GatewayCluster
from tests.reliability.fake_upstream import LONG_STRING_CHARS, Behaviour, FakeUpstream, Fault
from tests.reliability.load import GENERATE, body_for, run_load
from tests.reliability.scenario import routing_yaml

pytestmark = pytest.mark.reliability

KEY_ENV = "RELIAB_FAKE_OPENAI_KEY"
UNDECODABLE = ["truncated_png", "corrupt_idat", "bomb_png", "huge_body", "gzip_bomb"]


def provider(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "adapter": "openai",
        "base_url": upstream.url + "/v1",
        "settings": {"api_key": "${" + KEY_ENV + "}", "family": "compatible"},
    }


def start(tmp_path: Path, primary: FakeUpstream, fallback: FakeUpstream | None = None) -> GatewayCluster:
    """`with-fallback` (primary, then fallback) and `solo` (primary only)."""
    providers = {"primary": provider(primary)}
    models: dict[str, Any] = {"solo": {"deployments": [{"provider": "primary", "model": "fake-image-1"}]}}
    if fallback is not None:
        providers["fallback"] = provider(fallback)
        models["with-fallback"] = {
            "deployments": [
                {"provider": "primary", "model": "fake-image-1"},
                {"provider": "fallback", "model": "fake-image-1"},
            ]
        }
    text = routing_yaml(providers=providers, models=models)
    return GatewayCluster(1, text, tmp_path, extra_env={KEY_ENV: "sk-fake-reliability-key"}).start()


def peak_rss_mib(cluster: GatewayCluster) -> float:
    process = cluster.gateways[0].process
    assert process is not None
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("kind", UNDECODABLE)
def test_undecodable_or_oversized_output_falls_back_then_ends_in_502(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path, kind: str
) -> None:
    fake_upstream.configure(Behaviour(faults=((1.0, Fault(kind=kind)),)))  # type: ignore[arg-type]
    cluster = start(tmp_path, fake_upstream, second_upstream)
    try:
        url = cluster.urls[0]
        rescued = asyncio.run(run_load([url], 2, 1, lambda i: body_for(i, model="with-fallback", tag="fb")))
        alone = asyncio.run(run_load([url], 2, 1, lambda i: body_for(i, model="solo", tag="solo")))
        logs = cluster.logs()
    finally:
        cluster.stop()
    primary, fallback = fake_upstream.snapshot(), second_upstream.snapshot()
    assert rescued.statuses() == {200: 2}, rescued.codes()
    assert fallback.submits == 2 and fallback.outcomes["ok"] == 2  # the fallback served both
    assert alone.statuses() == {502: 2} and alone.codes() == {"upstream_error": 2}
    for outcome in alone.outcomes:
        message = json.loads(outcome.body)["error"]["message"]
        assert "upstream_invalid" in message, message
    assert set(primary.submits_by_prompt.values()) == {1}  # never retried on the same deployment
    assert "Traceback" not in logs and "internal_error" not in logs
    figures.record(
        f"P1 provider output {kind}",
        with_fallback=dict(rescued.statuses()),
        without=dict(alone.statuses()),
        primary_submits=primary.submits,
    )


@pytest.mark.parametrize("kind", ["huge_body", "gzip_bomb"])
def test_a_100_mb_body_costs_less_than_50_mb_and_ends_in_502(
    fake_upstream: FakeUpstream, tmp_path: Path, kind: str
) -> None:
    """100 MB chunked with no declared size, or 200 KB of gzip that inflates to 200 MB."""
    cluster = start(tmp_path, fake_upstream)
    try:
        url = cluster.urls[0]
        warm = asyncio.run(run_load([url], 3, 1, lambda i: body_for(i, model="solo", tag="warm")))
        before = peak_rss_mib(cluster)
        fake_upstream.configure(Behaviour(faults=((1.0, Fault(kind=kind)),)))  # type: ignore[arg-type]
        hostile = asyncio.run(run_load([url], 2, 1, lambda i: body_for(i, model="solo", tag="huge")))
        after = peak_rss_mib(cluster)
    finally:
        cluster.stop()
    assert warm.statuses() == {200: 3}
    assert hostile.statuses() == {502: 2} and hostile.codes() == {"upstream_error": 2}
    assert after - before < 50, (before, after)  # the target; the fix measures ~33 MiB
    figures.record(
        f"P2 hostile provider body {kind}",
        status=dict(hostile.statuses()),
        peak_rss_before_mib=round(before, 1),
        peak_rss_after_mib=round(after, 1),
        growth_mib=round(after - before, 1),
    )


@pytest.mark.parametrize("kind", ["long_string", "many_images"])
def test_raw_is_bounded_and_extra_images_are_dropped(
    fake_upstream: FakeUpstream, tmp_path: Path, kind: str
) -> None:
    fake_upstream.configure(Behaviour(faults=((1.0, Fault(kind=kind)),)))  # type: ignore[arg-type]
    cluster = start(tmp_path, fake_upstream)
    try:
        report = asyncio.run(
            run_load(cluster.urls, 1, 1, lambda i: body_for(i, model="solo", tag=kind), keep_body=True)
        )
    finally:
        cluster.stop()
    assert report.statuses() == {200: 1}, report.codes()
    body = report.outcomes[0].body
    response = json.loads(body)
    assert len(response["images"]) == 1
    raw = response["provider_metadata"]["raw"]
    assert len(json.dumps(raw)) < 16_384, len(json.dumps(raw))
    if kind == "long_string":
        assert raw["revised_prompt"].endswith(f"<elided: {LONG_STRING_CHARS // 7 * 7} chars>")
    else:
        assert len(raw["data"]) == 65 and raw["data"][-1] == "<elided: 236 more items>"
        assert any("300 images for 1" in w for w in response["provider_metadata"]["warnings"])
    assert len(body) < 64_000
    figures.record(f"P2 provider output {kind}", response_bytes=len(body), raw_chars=len(json.dumps(raw)))


def test_healthz_answers_while_the_mock_draws_a_big_image(tmp_path: Path) -> None:
    """An 8192x8192 mock image takes seconds of CPU: drawn in the image pool, not on the loop."""
    providers = {"mock": {"adapter": "mock", "settings": {"max_side": 8192}}}
    cluster = GatewayCluster(1, routing_yaml(providers=providers), tmp_path).start()
    try:
        url = cluster.urls[0]
        done = threading.Event()
        result: dict[str, Any] = {}

        def generate() -> None:
            body = {"model": "mock-image", "prompt": "big", "width": 8192, "height": 8192, "seed": 1}
            started = time.monotonic()
            response = httpx.post(url + GENERATE, json=body, timeout=120)
            result.update(status=response.status_code, seconds=time.monotonic() - started)
            done.set()

        worker = threading.Thread(target=generate)
        worker.start()
        latencies = []
        with httpx.Client(timeout=60) as client:
            while not done.is_set():
                started = time.monotonic()
                assert client.get(url + "/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)
        worker.join()
        peak = peak_rss_mib(cluster)
    finally:
        cluster.stop()
    assert result["status"] == 200
    # On the event loop /healthz would wait as long as the draw; off it, it answers at once. Relative,
    # not absolute: how long an 8192x8192 draw takes depends on the machine and its load.
    assert len(latencies) >= 3, (latencies, result)  # probes ran while the draw did
    assert max(latencies) * 4 < result["seconds"], (max(latencies), result)
    assert max(latencies) < 1.5, (max(latencies), result)
    figures.record(
        "P3 /healthz while the mock draws 8192x8192",
        generate_s=round(result["seconds"], 2),
        healthz_max_ms=round(max(latencies) * 1000, 1),
        healthz_probes=len(latencies),
        peak_rss_mib=round(peak, 1),
    )
