"""Hot reload under load: SIGHUP swaps the routing file on every replica while requests flow, and
not one request fails. The reloads are confirmed from the gateways' own logs while the load is
still running, and the last file's new alias is served afterwards."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.load import LoadReport, body_for, run_load
from tests.reliability.scenario import routing_yaml

pytestmark = pytest.mark.reliability

RELOADS = 4
TOTAL = 600


def config(generation: int) -> str:
    providers = {"mock": {"adapter": "mock", "settings": {"max_n": 4, "latency_ms": 10 + 5 * generation}}}
    models = {
        "mock-image": {
            "aliases": [f"mock-gen{generation}"],
            "deployments": [{"provider": "mock", "model": f"mock-v{generation}"}],
        }
    }
    return routing_yaml(providers=providers, models=models)


def reloaded(cluster: GatewayCluster, count: int) -> bool:
    return all(g.logs().count("config reloaded") >= count for g in cluster.gateways)


def test_hot_reload_under_load_fails_no_request(controlled_redis: ControlledRedis, tmp_path: Path) -> None:
    with GatewayCluster(2, config(0), tmp_path, redis_url=controlled_redis.url) as cluster:
        result: list[LoadReport] = []
        load = threading.Thread(
            target=lambda: result.append(asyncio.run(run_load(cluster.urls, TOTAL, 8, body_for)))
        )
        load.start()
        confirmed_under_load = 0
        for generation in range(1, RELOADS + 1):
            cluster.rewrite_config(config(generation))
            for gateway in cluster.gateways:
                gateway.signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while not reloaded(cluster, generation) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert reloaded(cluster, generation), cluster.logs()[-2000:]
            confirmed_under_load += load.is_alive()
        load.join(120)
        report = result[0]
        after = asyncio.run(run_load(cluster.urls, 4, 2, lambda i: body_for(i, model=f"mock-gen{RELOADS}")))
        logs = cluster.logs()
    assert confirmed_under_load == RELOADS, "every reload must land while the load is running"
    assert report.statuses() == {200: TOTAL}, report.codes()
    assert after.statuses() == {200: 4}
    assert "REJECTED" not in logs and "Traceback" not in logs
    figures.record(
        "hot reload under load",
        replicas=2,
        reloads_per_replica=RELOADS,
        requests=TOTAL,
        ok=report.statuses().get(200, 0),
        failed=TOTAL - report.statuses().get(200, 0),
        p99_ms=round(report.percentile(0.99) * 1000, 1),
    )
