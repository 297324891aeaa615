"""Issue 13 item 9: a SIGKILLed worker's live gauges must not stick in multiprocess metrics.

`imagegate serve --workers 2` with Redis; a slow mock provider holds generate requests in flight;
one worker is SIGKILLed. Its in-flight requests are gone (their clients see the connection drop),
so `imagegate_requests_in_flight` must fall back to the requests still held, not keep counting the
dead worker's until the whole server restarts.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster, GatewayProcess
from tests.reliability.load import GENERATE, body_for
from tests.reliability.scenario import metric_sum, routing_yaml, scrape

pytestmark = pytest.mark.reliability
HELD = 6
ROUTE = "/api/v1/image/generate"


def workers(gateway: GatewayProcess) -> list[int]:
    """The uvicorn worker processes: children of the supervisor started by multiprocessing spawn."""
    assert gateway.process is not None
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == gateway.process.pid and b"spawn_main" in cmdline and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def in_flight(url: str) -> float:
    return metric_sum(scrape(url), "imagegate_requests_in_flight", route=ROUTE)


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_killed_workers_in_flight_gauge_is_dropped(
    controlled_redis: ControlledRedis, tmp_path: Path
) -> None:
    providers = {"slow": {"adapter": "mock", "settings": {"latency_ms": 120_000}}}
    models = {"mock-image": {"deployments": [{"provider": "slow", "model": "mock-v1"}]}}
    text = routing_yaml(providers=providers, models=models, server={"request_deadline_seconds": 300})
    env = {"IMAGEGATE_WORKERS": "2"}
    with GatewayCluster(1, text, tmp_path, redis_url=controlled_redis.url, extra_env=env) as cluster:
        url = cluster.urls[0]
        wait_for(lambda: len(workers(cluster.gateways[0])) == 2, "two workers")
        dropped: list[str] = []
        answered: list[int] = []

        def hold(index: int) -> None:
            try:
                response = httpx.post(url + GENERATE, json=body_for(index, tag="held"), timeout=300)
                answered.append(response.status_code)
            except httpx.HTTPError as exc:
                dropped.append(type(exc).__name__)

        threads = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(HELD)]
        for thread in threads:
            thread.start()
        wait_for(lambda: in_flight(url) == HELD, f"{HELD} requests in flight")

        # Kill a worker; if it held none of the requests (the kernel gave them all to the other),
        # kill the other one too, so at least one request really died with its worker.
        killed = 0
        for pid in workers(cluster.gateways[0]):
            os.kill(pid, signal.SIGKILL)
            killed += 1
            wait_for(lambda pid=pid: pid not in workers(cluster.gateways[0]), f"worker {pid} gone")
            time.sleep(0.5)  # let the dropped connections reach their clients (if not: kill the other)
            if dropped:
                break
        wait_for(lambda: len(dropped) + len(answered) > 0, "a client to see its worker die")
        assert dropped and not answered, (dropped, answered)
        still_held = HELD - len(dropped)
        wait_for(lambda: len(workers(cluster.gateways[0])) == 2, "the supervisor's replacement worker")
        # Scrape until the dead worker's gauge is gone (a stuck gauge never gets there).
        wait_for(lambda: in_flight(url) == still_held, f"in_flight back to {still_held}", timeout=20)
        figures.record(
            "worker SIGKILL with requests in flight",
            held=HELD,
            workers_killed=killed,
            requests_dropped=len(dropped),
            in_flight_after=in_flight(url),
        )
