"""Upstream faults through the real request path: gateway subprocess -> `openai` adapter (family
`compatible`) -> the fault-injecting fake on loopback. Each scenario is bounded in requests and
time and asserts the outcome spec/routing-policy.md prescribes, counted at the fake.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.fake_upstream import Behaviour, FakeUpstream, Fault, Latency
from tests.reliability.load import GENERATE, body_for, run_load
from tests.reliability.scenario import metric_sum, routing_yaml, scrape

pytestmark = pytest.mark.reliability

KEY_ENV = "RELIAB_FAKE_OPENAI_KEY"
DEADLINE_S = 4.0


def fake_provider(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "adapter": "openai",
        "base_url": upstream.url + "/v1",
        "settings": {"api_key": "${" + KEY_ENV + "}", "family": "compatible"},
        **extra,
    }


def config(
    primary: FakeUpstream,
    fallback: FakeUpstream | None,
    *,
    primary_extra: dict[str, Any] | None = None,
    **sections: Any,
) -> str:
    providers = {
        "primary": fake_provider(primary, timeouts={"attempt_seconds": 1.5}, **(primary_extra or {}))
    }
    deployments = [{"provider": "primary", "model": "fake-image-1"}]
    if fallback is not None:
        providers["fallback"] = fake_provider(fallback)
        deployments.append({"provider": "fallback", "model": "fake-image-1"})
    models = {"fake-image": {"deployments": deployments, "deadline_seconds": DEADLINE_S}}
    retry = {"backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2}
    return routing_yaml(providers=providers, models=models, retry=retry, **sections)


def start(tmp_path: Path, text: str, redis_url: str | None = None) -> GatewayCluster:
    env = {KEY_ENV: "sk-fake-reliability-key"}
    return GatewayCluster(1, text, tmp_path, redis_url=redis_url, extra_env=env).start()


def fake_body(i: int) -> dict[str, object]:
    return body_for(i, model="fake-image", tag="f")


def test_f1_503_on_30_percent_every_request_succeeds_within_the_retry_budget(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path
) -> None:
    total = 100
    fake_upstream.configure(Behaviour(faults=((0.3, Fault.status_code(503)),), seed=3))
    cluster = start(tmp_path, config(fake_upstream, second_upstream))
    try:
        report = asyncio.run(run_load(cluster.urls, total, 8, fake_body))
    finally:
        cluster.stop()
    primary, fallback = fake_upstream.snapshot(), second_upstream.snapshot()
    assert report.statuses() == {200: total}, report.codes()
    first_tries = len(primary.submits_by_prompt)
    retries = primary.submits - first_tries
    # RetryConfig defaults: at most 3 tries per deployment; retries <= max(3, 20% of first tries).
    assert max(primary.submits_by_prompt.values()) <= 3
    assert retries <= max(3, int(0.2 * first_tries))
    assert primary.outcomes["ok"] + fallback.outcomes["ok"] == total  # exactly one image billed each
    figures.record(
        "F1 upstream 503 on 30% of calls",
        requests=total,
        ok=report.statuses().get(200, 0),
        primary_submits=primary.submits,
        primary_503=primary.outcomes["status_503"],
        retries=retries,
        retry_budget=max(3, int(0.2 * first_tries)),
        fallback_submits=fallback.submits,
        p99_ms=round(report.percentile(0.99) * 1000, 1),
    )


@pytest.mark.parametrize("kind", ["hang", "reset_before_response", "reset_mid_body"])
def test_f3_hang_or_reset_after_send_is_submitted_exactly_once(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path, kind: str
) -> None:
    total = 12
    fake_upstream.configure(Behaviour(faults=((1.0, Fault(kind=kind)),)))  # type: ignore[arg-type]
    cluster = start(tmp_path, config(fake_upstream, second_upstream))
    try:
        report = asyncio.run(run_load(cluster.urls, total, 6, fake_body, timeout=DEADLINE_S + 10))
    finally:
        cluster.stop()
    primary, fallback = fake_upstream.snapshot(), second_upstream.snapshot()
    # Per request: either it reached the primary (then exactly once, never the fallback, and 504
    # upstream_timeout), or the primary's breaker had opened (5 consecutive failures) and the
    # fallback served it without touching the primary. Nothing else, and nothing past the deadline.
    timed_out = [o for o in report.outcomes if o.status == 504]
    for outcome in report.outcomes:
        prompt = f"f-{outcome.index}"
        if outcome.status == 504:
            assert outcome.code == "upstream_timeout"
            assert (primary.submits_by_prompt[prompt], fallback.submits_by_prompt[prompt]) == (1, 0)
        else:
            assert outcome.status == 200, (outcome.status, outcome.code)
            assert (primary.submits_by_prompt[prompt], fallback.submits_by_prompt[prompt]) == (0, 1)
    assert len(timed_out) >= 5  # circuit_breaker.consecutive_failures
    assert primary.submits == len(timed_out) and set(primary.submits_by_prompt.values()) == {1}
    assert report.max_seconds <= DEADLINE_S + 1.0
    figures.record(
        f"F3 upstream {kind} after send",
        requests=total,
        status=dict(report.statuses()),
        primary_submits=primary.submits,
        max_submits_per_request=max(primary.submits_by_prompt.values()),
        fallback_submits_after_breaker_opened=fallback.submits,
        max_s=round(report.max_seconds, 2),
        deadline_s=DEADLINE_S,
    )


def test_f6_429_storm_honours_retry_after_and_falls_back_without_a_retry_storm(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path
) -> None:
    total, retry_after = 30, 1.0
    fake_upstream.configure(Behaviour(faults=((1.0, Fault.status_code(429, retry_after=retry_after)),)))
    cluster = start(tmp_path, config(fake_upstream, second_upstream))
    try:
        report = asyncio.run(run_load(cluster.urls, total, 6, fake_body))
    finally:
        cluster.stop()
    primary, fallback = fake_upstream.snapshot(), second_upstream.snapshot()
    assert report.statuses() == {200: total}, report.codes()
    assert fallback.outcomes["ok"] == total
    gaps = [b - a for times in primary.submit_times.values() for a, b in itertools.pairwise(times)]
    assert all(gap >= retry_after - 0.05 for gap in gaps), min(gaps)
    assert max(primary.submits_by_prompt.values()) <= 3
    assert primary.submits <= total + max(3, int(0.2 * total))  # the retry budget caps the storm
    figures.record(
        "F6 429 storm (Retry-After: 1)",
        requests=total,
        ok=report.statuses().get(200, 0),
        primary_submits=primary.submits,
        retries=primary.submits - len(primary.submits_by_prompt),
        min_gap_s=round(min(gaps), 3) if gaps else None,
        fallback_ok=fallback.outcomes["ok"],
    )


@pytest.mark.parametrize("retry_after", [float("nan"), float("inf"), -5.0])
def test_f6_a_retry_after_that_is_not_a_number_of_seconds_is_never_a_500(
    fake_upstream: FakeUpstream, tmp_path: Path, retry_after: float
) -> None:
    """A provider's 429 says `Retry-After: nan` (or inf, or negative): the request still ends in the
    spec's 503 `upstream_rate_limited` (nan used to reach the retry sleep: ValueError, 500)."""
    fake_upstream.configure(Behaviour(faults=((1.0, Fault.status_code(429, retry_after=retry_after)),)))
    cluster = start(tmp_path, config(fake_upstream, None))
    try:
        report = asyncio.run(run_load(cluster.urls, 2, 2, fake_body))
    finally:
        cluster.stop()
    assert report.statuses() == {503: 2}, report.codes()
    assert set(report.codes()) == {"upstream_rate_limited"}, report.codes()
    assert "Traceback" not in cluster.logs()


def test_client_disconnect_cancels_upstream_work(
    fake_upstream: FakeUpstream, controlled_redis: ControlledRedis, tmp_path: Path
) -> None:
    """Clients give up after 0.5 s on a 3 s upstream: the gateway closes the upstream calls it had
    started (the fake sees the peer hang up), frees their Redis leases and in-flight slots, and the
    next requests get the whole lease cap."""
    total, cap = 6, 2
    fake_upstream.configure(Behaviour(latency=Latency("fixed", 3000)))
    text = config(fake_upstream, None, primary_extra={"max_concurrency": cap})
    cluster = start(tmp_path, text, redis_url=controlled_redis.url)
    try:
        url = cluster.urls[0]

        async def impatient() -> int:
            async with httpx.AsyncClient(timeout=0.5) as client:
                results = await asyncio.gather(
                    *(client.post(url + GENERATE, json=fake_body(i)) for i in range(total)),
                    return_exceptions=True,
                )
            return sum(isinstance(r, httpx.TimeoutException) for r in results)

        def settled() -> bool:  # every call the fake saw was hung up on, and nothing is held
            stats = fake_upstream.snapshot()
            return 0 < stats.submits == stats.peer_closed_early and stats.in_flight == 0

        gave_up = asyncio.run(impatient())
        cancelled = asyncio.run(_wait_for(settled, 5))
        drained = asyncio.run(_wait_for(lambda: _leases(controlled_redis) == 0 and _in_flight(url) == 0, 5))
        started_calls = fake_upstream.snapshot().submits
        fake_upstream.configure(Behaviour(latency=Latency("fixed", 200)))
        after = asyncio.run(
            run_load([url], cap + 2, cap + 2, lambda i: body_for(i, model="fake-image", tag="after"))
        )
        in_flight_after, leases_after = _in_flight(url), _leases(controlled_redis)
    finally:
        cluster.stop()
    stats = fake_upstream.snapshot()
    assert gave_up == total and cancelled and drained
    assert started_calls >= 1 and stats.peer_closed_early == started_calls and stats.in_flight == 0
    assert after.statuses() == {200: cap + 2} and stats.max_in_flight <= cap
    assert (in_flight_after, leases_after) == (0, 0)
    figures.record(
        "client disconnect mid-request",
        disconnected=gave_up,
        upstream_calls_started=started_calls,
        upstream_calls_cancelled=stats.peer_closed_early,
        leases_left=leases_after,
        requests_in_flight_left=in_flight_after,
        after_ok=after.statuses().get(200, 0),
    )


def _leases(redis: ControlledRedis) -> int:
    client = redis.client()
    try:
        return sum(int(client.zcard(key)) for key in client.scan_iter(match="ig:cc:*"))
    finally:
        client.close()


def _in_flight(url: str) -> float:
    samples = scrape(url)
    generating = metric_sum(samples, "imagegate_requests_in_flight", route=GENERATE)  # not this /metrics call
    return generating + metric_sum(samples, "imagegate_leases_in_use")


async def _wait_for(predicate: Any, seconds: float) -> bool:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


@pytest.mark.parametrize("kind", ["malformed_json", "no_image", "wrong_content_type"])
def test_f9_invalid_bodies_fall_back_without_a_retry(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path, kind: str
) -> None:
    """200 with a body that is not an image: no retry of the same deployment, fall back (the spec's
    UPSTREAM_INVALID row). One submit at each fake per request; nothing else."""
    total = 8
    fake_upstream.configure(Behaviour(faults=((1.0, Fault(kind=kind)),)))  # type: ignore[arg-type]
    text = config(fake_upstream, second_upstream, circuit_breaker={"enabled": False})
    cluster = start(tmp_path, text)
    try:
        report = asyncio.run(run_load(cluster.urls, total, 4, fake_body))
    finally:
        cluster.stop()
    primary, fallback = fake_upstream.snapshot(), second_upstream.snapshot()
    assert report.statuses() == {200: total}, report.codes()
    assert set(primary.submits_by_prompt.values()) == {1} and primary.submits == total
    assert set(fallback.submits_by_prompt.values()) == {1} and fallback.submits == total
    figures.record(
        f"F9 upstream {kind}",
        requests=total,
        ok=report.statuses().get(200, 0),
        primary_submits=primary.submits,
        fallback_submits=fallback.submits,
    )


def test_f9_slow_drip_body_is_cut_by_the_attempt_timeout(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """A body dripped over ~3 s against a 1.5 s attempt timeout: httpx's per-read timeout never fires,
    the attempt timeout does; the outcome is unknown, so 504 and exactly one submit, no fallback."""
    total = 4
    drip = Behaviour(faults=((1.0, Fault(kind="slow_drip")),), drip_chunk_bytes=8, drip_interval_s=0.15)
    fake_upstream.configure(drip)
    text = config(fake_upstream, second_upstream, circuit_breaker={"enabled": False})
    cluster = start(tmp_path, text)
    try:
        report = asyncio.run(run_load(cluster.urls, total, total, fake_body, timeout=DEADLINE_S + 10))
    finally:
        cluster.stop()
    primary, fallback = fake_upstream.snapshot(), second_upstream.snapshot()
    assert report.codes() == {"upstream_timeout": total}
    assert primary.submits == total and set(primary.submits_by_prompt.values()) == {1}
    assert fallback.submits == 0
    assert report.max_seconds <= DEADLINE_S + 1.0
    figures.record(
        "F9 upstream slow-drip body",
        requests=total,
        status=dict(report.statuses()),
        primary_submits=primary.submits,
        fallback_submits=fallback.submits,
        max_s=round(report.max_seconds, 2),
        attempt_timeout_s=1.5,
    )


def test_f4_connection_refused_is_retried_then_falls_back(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Nothing listens at the primary (nothing was sent, so retrying and falling back are safe):
    every request succeeds at the fallback, each exactly once."""
    total = 10
    fake_upstream.stop()  # its port is now closed: connection refused
    text = config(fake_upstream, second_upstream, circuit_breaker={"enabled": False})
    cluster = start(tmp_path, text)
    try:
        report = asyncio.run(run_load(cluster.urls, total, 5, fake_body))
        samples = scrape(cluster.urls[0])
    finally:
        cluster.stop()
    fallback = second_upstream.snapshot()
    assert report.statuses() == {200: total}, report.codes()
    assert fallback.submits == total and set(fallback.submits_by_prompt.values()) == {1}
    connect_failures = metric_sum(samples, "imagegate_upstream_attempts_total", outcome="connect")
    assert connect_failures >= total  # the primary was really tried (and refused) first
    figures.record(
        "F4 connection refused",
        requests=total,
        ok=report.statuses().get(200, 0),
        primary_connect_failures=int(connect_failures),
        fallback_submits=fallback.submits,
        p99_ms=round(report.percentile(0.99) * 1000, 1),
    )
