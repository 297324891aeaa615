"""Issue 13 item 7: a burst against a healthy Redis is not a Redis outage.

400 valid signed requests released at once used to get ~28 % 503 `auth_unavailable`: the single
event loop, busy verifying signatures, starved the nonce claim's 50 ms pool wait, and a timeout on a
busy loop was reported as "replay store unreachable" (and counted as a degraded decision, firing the
Redis alert). Now: no 503 while Redis is healthy; Redis stopped still fails closed with
`auth_unavailable`; load the process cannot take is shed as 503 `service_unavailable` (the spec's
code; `overloaded` is not in its table) with Retry-After, counted apart from Redis failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.load import body_for, run_load
from tests.reliability.scenario import AUTH_ON, Wallet, metric_sum, routing_yaml, scrape

pytestmark = pytest.mark.reliability
BURST = 400


@pytest.fixture
def gateway(controlled_redis: ControlledRedis, tmp_path: Path) -> Iterator[str]:
    # One replica, one worker, the in-process mock provider (no upstream I/O): the burst's cost is
    # the gateway's own (HTTP, signature checks, nonce claims).
    with GatewayCluster(1, routing_yaml(auth=AUTH_ON), tmp_path, redis_url=controlled_redis.url) as cluster:
        yield cluster.urls[0]


def burst(url: str, tag: str) -> dict[str | None, int]:
    wallet = Wallet()
    signed = [wallet.header() for _ in range(BURST)]  # signed up front: released at once
    report = asyncio.run(
        run_load([url], BURST, BURST, lambda i: body_for(i, tag=tag), headers=lambda i: signed[i], timeout=60)
    )
    assert all(o.status in (200, 503) for o in report.outcomes), report.codes()
    shed = [o for o in report.outcomes if o.code == "service_unavailable"]
    assert all("retry-after" in o.headers for o in shed)
    return dict(report.codes())


def test_a_burst_on_a_healthy_redis_gets_no_auth_unavailable(gateway: str) -> None:
    codes = burst(gateway, "burst")
    samples = scrape(gateway)
    figures.record("400-request burst, healthy Redis", codes=codes)
    assert codes.get("auth_unavailable", 0) == 0, codes
    assert codes.get(None, 0) >= BURST * 0.9, codes  # this load is one the process can serve
    assert metric_sum(samples, "imagegate_degraded_decisions_total", component="auth") == 0
    assert metric_sum(samples, "imagegate_redis_errors_total") == 0


def test_redis_stopped_still_fails_closed(controlled_redis: ControlledRedis, gateway: str) -> None:
    controlled_redis.kill()
    codes = burst(gateway, "down")
    samples = scrape(gateway)
    figures.record("400-request burst, Redis stopped", codes=codes)
    assert codes == {"auth_unavailable": BURST}, codes
    assert metric_sum(samples, "imagegate_degraded_decisions_total", component="auth") == BURST
    assert metric_sum(samples, "imagegate_overload_shed_total") == 0


def test_load_beyond_the_admission_bound_is_shed_as_overload(
    controlled_redis: ControlledRedis, tmp_path: Path
) -> None:
    # One request authenticating at a time and no queue: a burst must be shed, and shed honestly.
    limits = {"admission": {"max_concurrent": 1, "max_queue": 0, "wait_seconds": 5}}
    text = routing_yaml(auth=AUTH_ON, limits=limits)
    with GatewayCluster(1, text, tmp_path, redis_url=controlled_redis.url) as cluster:
        codes = burst(cluster.urls[0], "shed")
        samples = scrape(cluster.urls[0])
    figures.record("400-request burst, admission bound 1 / queue 0", codes=codes)
    assert codes.get("service_unavailable", 0) > 0 and codes.get(None, 0) > 0, codes
    assert codes.get("auth_unavailable", 0) == 0, codes
    shed = metric_sum(samples, "imagegate_overload_shed_total", reason="admission_queue")
    assert shed == codes["service_unavailable"]
    assert metric_sum(samples, "imagegate_degraded_decisions_total") == 0
