"""Idempotency-Key across three `imagegate serve` replicas on one real redis-server: the same key
sent 20 times at once reaches the provider exactly once (counted on the loopback fake upstream);
every other answer is the stored response or 409. Another body under the key is 422, and a
validation error leaves the key usable."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.fake_upstream import Behaviour, FakeUpstream, Latency
from tests.reliability.scenario import routing_yaml
from tests.reliability.test_upstream_faults import KEY_ENV, fake_provider

pytestmark = pytest.mark.reliability

COPIES = 20
PATH = "/api/v1/image/generate"
BODY = {"model": "fake-image", "prompt": "exactly once", "width": 64, "height": 64}


async def send_copies(urls: list[str], key: str) -> list[httpx.Response]:
    targets = itertools.cycle(urls)
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(client.post(next(targets) + PATH, json=BODY, headers={"Idempotency-Key": key}) for _ in range(COPIES))
        )


def test_twenty_concurrent_copies_across_three_replicas_make_one_provider_call(
    fake_upstream: FakeUpstream, controlled_redis: ControlledRedis, tmp_path: Path
) -> None:
    # The provider takes 400 ms, so the copies overlap the first one (the outcome must hold anyway).
    fake_upstream.configure(Behaviour(latency=Latency("fixed", 400)))
    models = {"fake-image": {"deployments": [{"provider": "primary", "model": "fake-image-1"}]}}
    text = routing_yaml(providers={"primary": fake_provider(fake_upstream)}, models=models)
    env = {KEY_ENV: "sk-fake-reliability-key"}
    with GatewayCluster(3, text, tmp_path, redis_url=controlled_redis.url, extra_env=env) as cluster:
        answers = asyncio.run(send_copies(cluster.urls, "order-7731"))
        after = httpx.post(cluster.urls[1] + PATH, json=BODY, headers={"Idempotency-Key": "order-7731"}, timeout=30)
        other = httpx.post(
            cluster.urls[2] + PATH, json={**BODY, "prompt": "another"}, headers={"Idempotency-Key": "order-7731"}, timeout=30
        )
        invalid = httpx.post(cluster.urls[0] + PATH, json={**BODY, "n": 0}, headers={"Idempotency-Key": "k-2"}, timeout=30)
        valid = httpx.post(cluster.urls[1] + PATH, json={**BODY, "prompt": "second"}, headers={"Idempotency-Key": "k-2"}, timeout=30)
    stats = fake_upstream.snapshot()
    statuses = [a.status_code for a in answers]
    ok = [a for a in answers if a.status_code == 200]
    assert set(statuses) <= {200, 409}, statuses
    assert all(a.json()["error"]["code"] == "idempotency_in_progress" and a.headers["retry-after"] for a in answers if a.status_code == 409)
    assert ok and all(a.content == ok[0].content for a in ok)  # one response, replayed byte for byte
    assert sum("idempotent-replayed" not in a.headers for a in ok) == 1
    assert after.status_code == 200 and after.headers["idempotent-replayed"] == "true" and after.content == ok[0].content
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_mismatch"
    assert invalid.status_code == 400 and invalid.json()["error"]["param"] == "n"
    assert valid.status_code == 200 and "idempotent-replayed" not in valid.headers
    assert stats.submits_by_prompt["exactly once"] == 1  # the one provider call for 22 sends of the key
    assert stats.submits == 2
    figures.record(
        "Idempotency-Key: 20 concurrent copies over 3 replicas",
        copies=COPIES,
        provider_calls=stats.submits_by_prompt["exactly once"],
        duplicate_submits=stats.submits_by_prompt["exactly once"] - 1,
        answered_stored=len(ok),
        answered_409=statuses.count(409),
    )
