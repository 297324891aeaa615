"""Three gateway processes (uvicorn on loopback) sharing one Redis, under concurrent load: the account
rate limit and the provider concurrency cap hold across all of them."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.limits.leases import lease_key
from tests.support.inflight_upstream import InflightUpstream
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CAP = 3
ROUTING = """
providers:
  probe:
    adapter: http_probe
    max_concurrency: {cap}
    lease_wait_seconds: 20
    settings: {{url: "{url}"}}
models:
  probe-image:
    deployments:
      - {{provider: probe, model: probe-v1}}
auth:
  enabled: false
limits:
  account: {{rate: 1, period_seconds: 3600, burst: 10}}
  leases: {{ttl_seconds: 10}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[InflightUpstream]:
    fake = InflightUpstream(delay_s=0.15).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def replicas(
    redis_url: str, upstream: InflightUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    config = tmp_path_factory.mktemp("replicas") / "routing.yaml"
    config.write_text(ROUTING.format(cap=CAP, url=upstream.url))
    redis.Redis.from_url(redis_url).flushdb()
    env = {**os.environ, "REDIS_URL": redis_url, "IMAGEGATE_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    ports = [free_port() for _ in range(3)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.limits.replica_app:create",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for port in ports
    ]  # fmt: skip
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            _wait_ready(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"replica exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"replica at {url} never became ready")


async def _fire(urls: list[str], accounts: list[str]) -> list[int]:
    """One request per account entry, all at once, spread round-robin over the replicas."""
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(url: str, account: str) -> int:
            body = {"model": "probe-image", "prompt": "replica test"}
            response = await client.post(
                f"{url}/api/v1/image/generate", json=body, headers={"x-test-account": account}
            )
            return response.status_code

        return list(await asyncio.gather(*(one(u, a) for u, a in zip(itertools.cycle(urls), accounts))))


async def test_provider_concurrency_cap_holds_across_replicas(
    replicas: list[str], upstream: InflightUpstream, redis_url: str
) -> None:
    upstream.peak = upstream.total = 0
    started = time.perf_counter()
    codes = await _fire(replicas, [f"eip155:1:0xcap{i}" for i in range(36)])
    elapsed = time.perf_counter() - started
    print(f"\ncap={CAP}: 36 requests over 3 replicas -> {codes.count(200)} x 200, upstream peak in flight "
          f"{upstream.peak}, upstream calls {upstream.total}, {elapsed:.2f} s")  # fmt: skip
    assert codes == [200] * 36
    assert upstream.total == 36
    assert upstream.peak == CAP  # never more; and the load did reach the cap
    assert redis.Redis.from_url(redis_url).zcard(lease_key("probe/probe-v1")) == 0  # all released


async def test_account_limit_holds_across_replicas(replicas: list[str], upstream: InflightUpstream) -> None:
    codes = await _fire(replicas, ["eip155:1:0xAccount"] * 45)
    print(f"\naccount burst 10: 45 concurrent requests over 3 replicas -> {codes.count(200)} x 200, "
          f"{codes.count(429)} x 429")  # fmt: skip
    assert codes.count(200) == 10 and codes.count(429) == 35
    # Another account is unaffected.
    assert await _fire(replicas, ["eip155:1:0xOther"]) == [200]
