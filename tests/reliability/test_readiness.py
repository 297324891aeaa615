"""Issue 13 item 8: /readyz must fail while Redis answers PING but refuses writes.

`CLIENT PAUSE <ms> WRITE`, a full `noeviction` Redis and a read-only replica all still answer PING,
while every nonce claim (a SET) blocks or errors. Readiness writes a short-lived key instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.scenario import routing_yaml
from tests.support.redis_server import free_port

pytestmark = pytest.mark.reliability
PAUSE_MS = 20_000  # far longer than any probe may take: a probe that waits for the pause is wrong


@pytest.fixture
def gateway(controlled_redis: ControlledRedis, tmp_path: Path) -> Iterator[str]:
    with GatewayCluster(1, routing_yaml(), tmp_path, redis_url=controlled_redis.url) as cluster:
        yield cluster.urls[0]


def readyz(url: str) -> tuple[int, float, dict[str, object]]:
    started = time.monotonic()
    response = httpx.get(url + "/readyz", timeout=10)
    return response.status_code, time.monotonic() - started, response.json()


def test_readyz_fails_while_writes_are_paused(controlled_redis: ControlledRedis, gateway: str) -> None:
    assert readyz(gateway)[0] == 200
    admin = controlled_redis.client()
    try:
        admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
        status, seconds, body = readyz(gateway)
        assert status == 503, body
        assert body["store"]["ok"] is False  # type: ignore[index]
        assert seconds < PAUSE_MS / 1000 / 4  # answered by the probe's deadline, not the pause's end
        admin.execute_command("CLIENT", "UNPAUSE")
        assert readyz(gateway)[0] == 200
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    figures.record("readyz under CLIENT PAUSE WRITE", status=status, seconds=round(seconds, 3))


def test_readyz_fails_when_a_noeviction_redis_is_full(
    controlled_redis: ControlledRedis, gateway: str
) -> None:
    admin = controlled_redis.client()
    try:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
        status, _, body = readyz(gateway)
        assert status == 503, body
        assert "OutOfMemory" in str(body["store"]) or "ResponseError" in str(body["store"])
        admin.config_set("maxmemory", "0")
        assert readyz(gateway)[0] == 200
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()


def test_readyz_fails_on_a_read_only_replica(controlled_redis: ControlledRedis, gateway: str) -> None:
    admin = controlled_redis.client()
    try:
        admin.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # a master that is not there
        status, _, body = readyz(gateway)
        assert status == 503, body
        admin.execute_command("REPLICAOF", "NO", "ONE")
        assert readyz(gateway)[0] == 200
    finally:
        admin.execute_command("REPLICAOF", "NO", "ONE")
        admin.close()
