"""Redis Cluster: three `--cluster-enabled` nodes on loopback, started here. Rate-limit buckets (several
keys per call), lease sets and replay keys all run without CROSSSLOT through RedisCluster."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from gateway.config.limits import RedisClientConfig
from gateway.limits.gcra import GCRA_LUA, Bucket
from gateway.limits.leases import RedisGate
from gateway.limits.redis_limiter import RedisLimiter
from gateway.redis.backend import RedisBackend
from gateway.redis.client import connect
from gateway.state.redis import RedisStore
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.slow
T0 = 1_764_000_000_000_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    nodes = [
        # The bus port defaults to port + 10000, which may not exist for a high free port: pick one.
        RedisServer(
            free_port(),
            extra_args=[
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(free_port()),
                "--cluster-node-timeout",
                "2000",
            ],
        ).start()
        for _ in range(3)
    ]
    try:
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 20
        for node in nodes:  # every node must agree before the client discovers the slot map
            probe = redis.Redis(port=node.port)
            while probe.cluster("info").get("cluster_state") != "ok":
                assert time.monotonic() < deadline, "cluster never became ok"
                time.sleep(0.1)
            probe.close()
        yield f"redis+cluster://127.0.0.1:{nodes[0].port}"
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
async def backend(cluster: str) -> AsyncIterator[RedisBackend]:
    # Generous command timeouts: these tests are about cluster semantics (hash tags, scripts on the
    # owning node), not about timeouts; on a loaded box a 200 ms timeout would send a lease to the
    # local fallback and the cap test would count both.
    guarded = RedisBackend.from_url(cluster, RedisClientConfig(timeout_ms=2000))
    assert isinstance(guarded.client, RedisCluster)
    yield guarded
    await guarded.aclose()


async def test_multi_bucket_limits_work_on_a_cluster(backend: RedisBackend) -> None:
    limiter = RedisLimiter(backend)
    minute = Bucket("account:all", emission_us=1_000_000, burst=3, cost=1)
    day = Bucket("account:day", emission_us=60_000_000, burst=2, cost=1)
    # Many entities spread over all three nodes' slots; each call touches two keys of one entity.
    for i in range(30):
        tag = f"a:eip155:1:0x{i:040x}"
        results = [(await limiter.check(tag, [minute, day], now_us=T0)).allowed for _ in range(3)]
        assert results == [True, True, False]
    decision = await limiter.check("a:live-clock", [minute, day])  # Redis TIME on the owning node
    assert decision.allowed


async def test_keys_without_a_shared_tag_would_be_rejected(backend: RedisBackend) -> None:
    """The control: the same script over two entities' keys is refused (so the tag is what works)."""
    script = backend.client.register_script(GCRA_LUA)
    keys = [f"ig:rl:{{a:{i}}}:x" for i in range(20)]
    client = backend.client
    assert isinstance(client, RedisCluster)
    pair = [keys[0], next(k for k in keys if client.keyslot(k) != client.keyslot(keys[0]))]
    with pytest.raises((RedisClusterException, ResponseError)):
        await script(keys=pair, args=["", 1000, 1000, 1, 1000, 1000, 1])


async def test_leases_work_on_a_cluster(backend: RedisBackend) -> None:
    gate = RedisGate(backend, ttl_seconds=10)
    in_flight, peak = 0, 0

    async def job(deployment: str) -> None:
        nonlocal in_flight, peak
        async with gate.lease(deployment, limit=2, wait_seconds=5):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(job("bfl/flux-pro") for _ in range(10)))
    assert peak == 2
    for deployment in ("openai/dall-e-3", "mock/mock-v1", "bfl/flux-dev"):
        async with gate.lease(deployment, limit=1, wait_seconds=1):
            pass


async def test_replay_keys_work_on_a_cluster(cluster: str) -> None:
    store = RedisStore(RedisBackend(connect(cluster)))  # type: ignore[arg-type]
    key = "ig:nonce:{eip155:1:0xabc}:n-1"
    assert await store.set_nx_get(key, b"digest", ttl_ms=60_000) is None
    assert await store.set_nx_get(key, b"other", ttl_ms=60_000) == b"digest"
    await store.aclose()


async def test_the_app_runs_on_a_cluster_url(cluster: str) -> None:
    """REDIS_URL=redis+cluster://…: the store, the limiter and the gate all use the cluster."""
    from litestar.testing import AsyncTestClient

    from gateway.app import create_app
    from gateway.settings import Settings
    from tests.limits.test_limits_api import HeaderAuthenticator
    from tests.support.app import MOCK_ROUTING, mock_config

    routing = MOCK_ROUTING.replace(
        "    settings: {max_n: 4}\n", "    settings: {max_n: 4}\n    max_concurrency: 1\n", 1
    )
    routing += "limits:\n  ip: {rate: 1, period_seconds: 3600, burst: 5}\n  account: {rate: 1, period_seconds: 3600, burst: 2}\n"
    app = create_app(Settings(redis_url=cluster), config=mock_config(routing))
    async with AsyncTestClient(app=app) as client:
        app.state.services.authenticator = HeaderAuthenticator()
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["store"]["ok"] and ready["limits"]["kind"] == "redis"
        body = {"model": "mock-image", "prompt": "x"}
        codes = [(await client.post("/api/v1/image/generate", json=body)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
