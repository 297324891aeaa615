"""Three replicas sharing one Redis: a replayed envelope succeeds exactly once overall, under load
from other wallets; with `limits:` configured, one wallet's limit holds across the replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.reliability import figures
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.load import body_for, run_load
from tests.reliability.scenario import AUTH_ON, Wallet, routing_yaml

pytestmark = pytest.mark.reliability

COPIES = 30  # copies of one envelope, spread over the three replicas
BACKGROUND = 60  # requests from other wallets at the same time


async def replay_under_load(urls: list[str]) -> tuple[list[int], list[str | None], dict[int, int]]:
    victim = Wallet().header()
    others = Wallet()
    replay = run_load(urls, COPIES, COPIES, lambda i: body_for(i, tag="replay"), headers=lambda i: victim)
    background = run_load(
        urls, BACKGROUND, 6, lambda i: body_for(i, tag="bg"), headers=lambda i: others.header()
    )
    replayed, load = await asyncio.gather(replay, background)
    statuses = [o.status for o in replayed.outcomes]
    codes = [o.code for o in replayed.outcomes]
    return statuses, codes, dict(load.statuses())


def test_replayed_envelope_succeeds_exactly_once_across_three_replicas(
    controlled_redis: ControlledRedis, tmp_path: Path
) -> None:
    with GatewayCluster(3, routing_yaml(auth=AUTH_ON), tmp_path, redis_url=controlled_redis.url) as cluster:
        statuses, codes, background = asyncio.run(replay_under_load(cluster.urls))
    # Each copy is either admitted, refused as a replay, or (if a Redis call timed out on a loaded
    # box) refused fail-closed with 503 auth_unavailable. Never more than one admission; exactly one
    # whenever the store answered every call.
    assert set(codes) <= {None, "auth_nonce_reused", "auth_unavailable"}, codes
    unavailable = codes.count("auth_unavailable")
    assert statuses.count(200) == 1 if unavailable == 0 else statuses.count(200) <= 1
    assert codes.count("auth_nonce_reused") == COPIES - statuses.count(200) - unavailable
    assert set(background) <= {200, 503} and background.get(200, 0) >= BACKGROUND - background.get(503, 0)
    figures.record(
        "S1 replay across 3 replicas",
        copies=COPIES,
        succeeded=statuses.count(200),
        rejected_nonce_reused=codes.count("auth_nonce_reused"),
        refused_store_unavailable=codes.count("auth_unavailable"),
        background_ok=background.get(200, 0),
    )
