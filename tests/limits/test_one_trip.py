"""The nonce claim and the account limit in ONE Redis round trip (gateway/limits/one_trip.py),
with the semantics of the two separate calls: a replay spends no budget, a 429 keeps the claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.auth.replay import ReplayGuard
from gateway.canonical import ImageRequest
from gateway.config.limits import LimitsConfig, ScopeLimits
from gateway.errors import RateLimited
from gateway.limits import one_trip
from gateway.limits.redis_limiter import RedisLimiter
from gateway.limits.service import STATE_KEY, RateLimits
from gateway.redis import RedisBackend
from gateway.state.redis import RedisStore

ACCOUNT = "eip155:1:0xAbC0000000000000000000000000000000000001"
REQ = ImageRequest(model="m", prompt="p")


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    shared = RedisBackend.from_url(redis_url)
    yield shared
    await shared.aclose()


def calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))  # type: ignore[union-attr]


async def admit(
    guard: ReplayGuard, limits: RateLimits, config: LimitsConfig, nonce: str, text: str = "msg"
) -> tuple[dict[str, object], one_trip.AccountCheck]:
    check = one_trip.AccountCheck(lambda account: limits.account_plan(config, account, REQ, "m"))
    state: dict[str, object] = {}
    with one_trip.offered(check):
        await guard.admit(chain="eip155:1", address=ACCOUNT[9:], nonce=nonce, text=text, ttl_ms=60_000, account=ACCOUNT)
    if check.planned is not None and check.decision is not None and check.decision.allowed:
        limits.apply(state, check.planned, check.decision)
    return state, check


async def test_claim_and_account_limit_are_one_round_trip(
    backend: RedisBackend, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = ReplayGuard(RedisStore(backend, owns_backend=False))
    limits = RateLimits(RedisLimiter(backend))
    config = LimitsConfig(account=ScopeLimits(rate=1, burst=5, period_seconds=60))
    await backend.ping()  # scripts loaded: what follows is the request path only
    trips: list[str] = []
    original = backend.call

    async def counted(operation: str, *args: Any, **kwargs: Any) -> Any:
        trips.append(operation)
        return await original(operation, *args, **kwargs)

    monkeypatch.setattr(backend, "call", counted)
    redis_client.config_resetstat()
    state, check = await admit(guard, limits, config, "n1")
    assert check.decision is not None and check.decision.allowed
    assert trips == ["store"] and calls(redis_client, "evalsha") == 1  # claim + bucket: one script
    assert redis_client.exists(f"ig:siwx:n:eip155:1:{ACCOUNT[9:].lower()}:n1")  # the usual key name
    assert redis_client.exists(f"ig:rl:{{a:{ACCOUNT}}}:account:all")
    (evaluated,) = state[STATE_KEY]  # type: ignore[misc]
    assert evaluated.name == "account" and evaluated.remaining == 4


async def test_a_replay_spends_no_budget_and_a_refusal_keeps_the_claim(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    guard = ReplayGuard(RedisStore(backend, owns_backend=False))
    limits = RateLimits(RedisLimiter(backend))
    config = LimitsConfig(account=ScopeLimits(rate=1, burst=1, period_seconds=3600))
    bucket = f"ig:rl:{{a:{ACCOUNT}}}:account:all"
    await admit(guard, limits, config, "n1")
    tat = redis_client.get(bucket)
    with pytest.raises(SiwxRejected) as replay:
        await admit(guard, limits, config, "n1")
    assert replay.value.code is AuthCode.NONCE_REUSED and redis_client.get(bucket) == tat
    state, check = await admit(guard, limits, config, "n2")  # a fresh nonce over the account's budget
    assert check.decision is not None and not check.decision.allowed
    assert redis_client.exists(f"ig:siwx:n:eip155:1:{ACCOUNT[9:].lower()}:n2")
    with pytest.raises(RateLimited):
        limits.apply(state, check.planned, check.decision)  # type: ignore[arg-type]


async def test_session_replay_of_the_same_message_is_charged_again(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    guard = ReplayGuard(RedisStore(backend, owns_backend=False), policy="session")
    limits = RateLimits(RedisLimiter(backend))
    config = LimitsConfig(account=ScopeLimits(rate=1, burst=5, period_seconds=60))
    await admit(guard, limits, config, "n1")
    _, check = await admit(guard, limits, config, "n1")
    assert check.decision is not None and check.decision.buckets[0].remaining == 3
    with pytest.raises(SiwxRejected):
        await admit(guard, limits, config, "n1", text="another message")


async def test_without_an_account_limit_or_with_issued_nonces_the_claim_is_alone(
    backend: RedisBackend, redis_client: redis.Redis
) -> None:
    limits = RateLimits(RedisLimiter(backend))
    _, check = await admit(ReplayGuard(RedisStore(backend, owns_backend=False)), limits, LimitsConfig(), "n1")
    assert check.decision is None
    issued = ReplayGuard(RedisStore(backend, owns_backend=False), require_issued_nonce=True)
    with pytest.raises(SiwxRejected):  # the nonce was never issued: claimed alone, then refused
        await admit(issued, limits, LimitsConfig(account=ScopeLimits(rate=1, burst=5)), "n2")
    assert not redis_client.exists(f"ig:rl:{{a:{ACCOUNT}}}:account:all")
