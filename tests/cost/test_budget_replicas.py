"""Budgets across three `imagegate serve` replicas sharing one real Redis.

50 concurrent requests against a balance that covers 10 -> exactly 10 admitted (402 for the rest),
the balance never negative, every reservation settled (none left). A replica killed (SIGKILL) in the
middle of a request -> its reservation expires after the deadline + grace and the balance is whole.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.budgets.redis_store import keys
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "anonymous"  # auth off: every request is this account's
ROUTING = """
providers:
  mock: {adapter: mock, settings: {latency_ms: 300}}
  stuck: {adapter: mock, settings: {latency_ms: 60000}}
models:
  paid:
    deployments: [{provider: mock, model: m, price: {per_image: "0.01"}}]
  stuck:
    deadline_seconds: 3               # held long enough to be killed in the middle of it
    deployments: [{provider: stuck, model: m, price: {per_image: "0.30"}}]
budgets:
  default: {prepaid: true}
  reservation_grace_seconds: 1
auth: {enabled: false}
limits:
  account: {rate: 1000, period_seconds: 1, burst: 1000}
  redis: {timeout_ms: 3000}         # a loaded 2-core test box must not open the Redis breaker
"""


@pytest.fixture(scope="module")
def replicas(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    config = tmp_path_factory.mktemp("budgets") / "routing.yaml"
    config.write_text(ROUTING)
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT), "IMAGEGATE_LOG_LEVEL": "warning"}
    logs = config.parent / "replicas.log"
    log_file = logs.open("wb")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    ports = [free_port() for _ in range(3)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )
        for port in ports
    ]  # fmt: skip
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            _wait_ready(url, process)
        yield list(zip(urls, processes, strict=True))
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=10)
        log_file.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"replica at {url} exited (its log is in the test's tmp dir)")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"replica at {url} never became ready")


def _ledger(client: redis.Redis) -> tuple[int, int, int]:
    """(balance, reserved, live reservations) of the account, straight from Redis."""
    account, expiries, _ = keys(ACCOUNT)
    balance, reserved = client.hmget(account, "balance", "reserved")
    return int(balance or 0), int(reserved or 0), int(client.zcard(expiries))


def _credit(usd: str) -> None:
    env = {**os.environ, "REDIS_URL": os.environ["REDIS_URL"]}
    subprocess.run([sys.executable, "-m", "gateway", "balance", "credit", ACCOUNT, usd], env=env, check=True, capture_output=True)


async def test_fifty_concurrent_requests_against_a_balance_for_ten(
    replicas: list[tuple[str, subprocess.Popen[bytes]]], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(*keys(ACCOUNT))
    monkeypatch.setenv("REDIS_URL", redis_url)
    _credit("0.10")  # the operator command, against the same Redis
    lowest = [10**12]
    done = asyncio.Event()

    async def watch() -> None:  # the balance as the replicas see it, sampled while requests run
        while not done.is_set():
            lowest[0] = min(lowest[0], _ledger(client)[0])
            await asyncio.sleep(0.01)

    urls = [url for url, _ in replicas]
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(url: str) -> httpx.Response:
            return await http.post(f"{url}/api/v1/image/generate", json={"model": "paid", "prompt": "budget"})

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        responses = await asyncio.gather(*(one(u) for u, _ in zip(itertools.cycle(urls), range(50), strict=False)))
        elapsed = time.perf_counter() - started
        done.set()
        await watcher
        balance_view = (await http.get(f"{urls[0]}/api/v1/session/balance")).json()
    lowest[0] = min(lowest[0], _ledger(client)[0])
    codes = [r.status_code for r in responses]
    refused = [r for r in responses if r.status_code == 402]
    balance, reserved, live = _ledger(client)
    print(
        f"\n3 replicas, 50 concurrent requests, balance 0.10 USD at 0.01 per request: {codes.count(200)} x 200, "
        f"{len(refused)} x 402 in {elapsed:.2f} s; lowest balance seen {lowest[0]} micro-USD; after: balance "
        f"{balance}, reserved {reserved}, reservations left {live}; GET /session/balance {balance_view}"
    )
    assert codes.count(200) == 10 and len(refused) == 40, [(r.status_code, r.text[:200]) for r in responses if r.status_code not in (200, 402)]
    assert all(r.json()["error"]["code"] == "insufficient_balance" for r in refused)
    assert "needs 0.010000 USD" in refused[0].json()["error"]["message"]
    assert lowest[0] >= 0 and balance == 0
    assert (reserved, live) == (0, 0)
    assert sum(float(r.json()["provider_metadata"]["cost"]["usd"]) for r in responses if r.status_code == 200) == pytest.approx(0.10)
    assert balance_view == {"caip_account_id": ACCOUNT, "balance_micro_usdc": "0", "balance_usd": "0.000000"}


async def test_killed_replica_reservation_expires_and_the_balance_is_restored(
    replicas: list[tuple[str, subprocess.Popen[bytes]]], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(*keys(ACCOUNT))
    monkeypatch.setenv("REDIS_URL", redis_url)
    _credit("1.00")
    (victim_url, victim), (survivor_url, _) = replicas[-1], replicas[0]
    async with httpx.AsyncClient(timeout=30) as http:
        request = asyncio.create_task(http.post(f"{victim_url}/api/v1/image/generate", json={"model": "stuck", "prompt": "x"}))
        deadline = time.monotonic() + 10
        while _ledger(client)[2] == 0:  # the reservation is in Redis: the request is upstream now
            assert time.monotonic() < deadline and not request.done(), "no reservation appeared"
            await asyncio.sleep(0.01)
        held = (await http.get(f"{survivor_url}/api/v1/session/balance")).json()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        with pytest.raises(httpx.HTTPError):
            await request
        deadline = time.monotonic() + 15  # deadline 3 s + grace 1 s, then the next step purges it
        while True:
            restored = (await http.get(f"{survivor_url}/api/v1/session/balance")).json()
            if restored["balance_usd"] == "1.000000" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    print(f"\nkilled replica: balance while its request was held {held['balance_usd']}, after expiry {restored['balance_usd']}")
    assert held["balance_usd"] == "0.700000"  # 0.30 reserved by the request in flight
    assert restored["balance_usd"] == "1.000000"
    assert _ledger(client) == (1_000_000, 0, 0)  # nothing charged, nothing left reserved
