"""F10 / F11: Redis killed or paused while gateways serve signed traffic.

Replay protection fails closed: without its nonce claim no request is admitted; the generate route
answers 503 `auth_unavailable` within the Redis timeout (never a hang, never a 500); and service is
back within 5 s of Redis returning. Redis here is our own server on a free port, never 6379.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.fake_upstream import Behaviour, FakeUpstream, Latency
from tests.reliability.load import LoadReport, body_for, run_load
from tests.reliability.scenario import AUTH_ON, Wallet, routing_yaml
from tests.reliability.test_upstream_faults import KEY_ENV, fake_provider

pytestmark = pytest.mark.reliability

REDIS_TIMEOUT_S = 0.25  # bound on one Redis command (limits.redis.timeout_ms is 200 ms since gateway/redis/)
SLACK_S = 0.75  # scheduling slack on a shared 2-core CI box (the figure recorded is the real one)
RECOVERY_S = 5.0
NONCE_KEYS = "ig:siwx:n:*"


def signed_load(urls: list[str], total: int, concurrency: int, tag: str) -> LoadReport:
    wallet = Wallet()
    return asyncio.run(
        run_load(urls, total, concurrency, lambda i: body_for(i, tag=tag), headers=lambda i: wallet.header())
    )


def nonce_claims(redis: ControlledRedis) -> int:
    client = redis.client()
    try:
        return sum(1 for _ in client.scan_iter(match=NONCE_KEYS, count=1000))
    finally:
        client.close()


def recover(urls: list[str], started: float) -> tuple[float, int]:
    """Seconds from `started` until every replica admitted a signed request again, and the number
    of probes admitted."""
    wallet = Wallet()
    pending = set(urls)
    while pending and time.monotonic() - started < RECOVERY_S + 5:
        for url in sorted(pending):
            report = asyncio.run(
                run_load([url], 1, 1, lambda i: body_for(i, tag="probe"), headers=lambda i: wallet.header())
            )
            if report.outcomes[0].status == 200:
                pending.discard(url)
        time.sleep(0.05)
    assert not pending, f"not recovered: {pending}"
    return time.monotonic() - started, len(urls)


@pytest.fixture
def cluster(controlled_redis: ControlledRedis, fake_upstream: FakeUpstream, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two replicas whose only provider is the fake upstream (20 ms), so every billed call is counted."""
    fake_upstream.configure(Behaviour(latency=Latency("fixed", 20)))
    providers = {"fake": fake_provider(fake_upstream)}
    models = {"mock-image": {"deployments": [{"provider": "fake", "model": "fake-image-1"}]}}
    text = routing_yaml(auth=AUTH_ON, providers=providers, models=models)
    env = {KEY_ENV: "sk-fake"}
    with GatewayCluster(2, text, tmp_path, redis_url=controlled_redis.url, extra_env=env) as running:
        unsigned = asyncio.run(run_load(running.urls, 2, 2, lambda i: body_for(i, tag="unsigned")))
        assert unsigned.statuses() == {401: 2}, "auth must be on, or this scenario proves nothing"
        yield running


def assert_fail_closed(report: LoadReport) -> None:
    assert report.statuses() == {503: len(report.outcomes)}, report.codes()
    assert report.codes() == {"auth_unavailable": len(report.outcomes)}


def test_redis_killed_mid_run(
    controlled_redis: ControlledRedis, fake_upstream: FakeUpstream, cluster: GatewayCluster
) -> None:
    before = signed_load(cluster.urls, 20, 4, "before")
    assert before.statuses() == {200: 20}
    assert nonce_claims(controlled_redis) == 20

    # Kill Redis while a batch is in flight: each request is either admitted (its claim landed before
    # the kill) or refused with 503 auth_unavailable; nothing else, nothing hangs.
    killer = threading.Timer(0.3, controlled_redis.kill)
    killer.start()
    during = signed_load(cluster.urls, 120, 4, "during")
    killer.join()
    assert set(during.statuses()) <= {200, 503}, during.codes()
    assert set(during.codes()) <= {None, "auth_unavailable"}

    submits_before_outage = fake_upstream.snapshot().submits
    outage = signed_load(cluster.urls, 30, 4, "outage")
    assert_fail_closed(outage)
    assert outage.max_seconds <= REDIS_TIMEOUT_S + SLACK_S
    assert fake_upstream.snapshot().submits == submits_before_outage  # nothing billed while down

    restarted = time.monotonic()
    controlled_redis.restart()
    recovery_s, probes_ok = recover(cluster.urls, restarted)
    assert recovery_s <= RECOVERY_S
    probes = nonce_claims(controlled_redis)
    after = signed_load(cluster.urls, 20, 4, "after")
    assert after.statuses() == {200: 20}
    # Redis came back empty: every admitted request since then left exactly one nonce claim.
    assert nonce_claims(controlled_redis) == probes + 20
    # Over the whole run, the provider saw exactly the admitted requests: none without its claim.
    admitted = 20 + during.statuses().get(200, 0) + probes_ok + 20
    assert fake_upstream.snapshot().submits == admitted
    figures.record(
        "F10 redis killed mid-run",
        replicas=len(cluster.urls),
        mid_run=dict(during.statuses()),
        outage_requests=len(outage.outcomes),
        outage_admitted=outage.statuses().get(200, 0),
        outage_503_p99_ms=round(outage.percentile(0.99) * 1000, 1),
        outage_503_max_ms=round(outage.max_seconds * 1000, 1),
        outage_retry_after=sum(1 for o in outage.outcomes if "retry-after" in o.headers),
        recovery_s=round(recovery_s, 2),
        after_ok=after.statuses().get(200, 0),
        upstream_submits=fake_upstream.snapshot().submits,
        admitted_total=admitted,
    )


def test_redis_paused(
    controlled_redis: ControlledRedis, fake_upstream: FakeUpstream, cluster: GatewayCluster
) -> None:
    assert signed_load(cluster.urls, 10, 2, "before").statuses() == {200: 10}
    submits_before = fake_upstream.snapshot().submits
    controlled_redis.pause()
    try:
        paused = signed_load(cluster.urls, 12, 4, "paused")
    finally:
        controlled_redis.resume()
        resumed = time.monotonic()
    assert_fail_closed(paused)
    assert paused.max_seconds <= REDIS_TIMEOUT_S + SLACK_S
    assert fake_upstream.snapshot().submits == submits_before  # nothing billed while paused
    recovery_s, _ = recover(cluster.urls, resumed)
    assert recovery_s <= RECOVERY_S
    after = signed_load(cluster.urls, 10, 2, "after")
    assert after.statuses() == {200: 10}
    figures.record(
        "F11 redis paused (SIGSTOP)",
        paused_requests=len(paused.outcomes),
        paused_admitted=paused.statuses().get(200, 0),
        paused_503_p99_ms=round(paused.percentile(0.99) * 1000, 1),
        paused_503_max_ms=round(paused.max_seconds * 1000, 1),
        recovery_s=round(recovery_s, 2),
    )
