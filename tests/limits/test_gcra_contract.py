"""One contract for both GCRA implementations (Redis Lua script, in-memory twin), checked against an
independent token-bucket reference under a pinned clock; plus Redis-only checks of what is stored."""

from __future__ import annotations

import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.limits.gcra import Bucket, Limiter, bucket_key
from gateway.limits.redis_limiter import RedisLimiter
from tests.limits.reference import TokenBucket

T0 = 1_764_000_000_000_000  # a fixed "now" in µs
SECOND = 1_000_000


def _tag() -> str:
    return f"t:{uuid.uuid4().hex}"


async def test_burst_then_steady_rate_admits_exactly_the_model(limiter: Limiter) -> None:
    # 10 per second (T = 100 ms), burst 5. 40 requests at t=0, then one every 50 ms for 2 s.
    bucket = Bucket("b", emission_us=100_000, burst=5, cost=1)
    model = TokenBucket(emission_us=100_000, burst=5)
    tag = _tag()
    arrivals = [T0] * 40 + [T0 + i * 50_000 for i in range(1, 41)]
    admitted = 0
    for now in arrivals:
        decision = await limiter.check(tag, [bucket], now_us=now)
        allowed, retry = model.offer(now, 1)
        assert (decision.allowed, decision.retry_after_us) == (allowed, retry), now - T0
        admitted += decision.allowed
    # Burst 5 at t=0, then one per 100 ms over the next 2 s: 5 + 20.
    assert admitted == 25


async def test_remaining_and_reset_follow_the_bucket(limiter: Limiter) -> None:
    bucket = Bucket("b", emission_us=SECOND, burst=3, cost=1)
    tag = _tag()
    first = await limiter.check(tag, [bucket], now_us=T0)
    assert first.allowed and first.buckets[0].remaining == 2 and first.buckets[0].reset_after_us == SECOND
    await limiter.check(tag, [bucket], now_us=T0)
    third = await limiter.check(tag, [bucket], now_us=T0)
    assert third.allowed and third.buckets[0].remaining == 0 and third.buckets[0].reset_after_us == 3 * SECOND
    denied = await limiter.check(tag, [bucket], now_us=T0 + SECOND // 2)
    assert not denied.allowed and denied.retry_after_us == SECOND // 2
    assert denied.buckets[0].remaining == 0


async def test_weighted_costs(limiter: Limiter) -> None:
    # Burst 8 units, 1 unit per second. Costs 4 + 4 pass at once, 1 more is denied for 1 s.
    tag = _tag()

    def of(cost: int) -> Bucket:
        return Bucket("b", emission_us=SECOND, burst=8, cost=cost)

    assert (await limiter.check(tag, [of(4)], now_us=T0)).allowed
    assert (await limiter.check(tag, [of(4)], now_us=T0)).allowed
    denied = await limiter.check(tag, [of(1)], now_us=T0)
    assert not denied.allowed and denied.retry_after_us == SECOND
    # 3 s later, 3 units have refilled: cost 4 is denied (1 s to go), cost 3 passes.
    heavy = await limiter.check(tag, [of(4)], now_us=T0 + 3 * SECOND)
    assert not heavy.allowed and heavy.retry_after_us == SECOND
    assert (await limiter.check(tag, [of(3)], now_us=T0 + 3 * SECOND)).allowed


async def test_a_denied_request_does_not_consume(limiter: Limiter) -> None:
    tag = _tag()
    big = Bucket("b", emission_us=SECOND, burst=4, cost=4)
    small = Bucket("b", emission_us=SECOND, burst=4, cost=1)
    assert (await limiter.check(tag, [small], now_us=T0)).allowed  # 3 left
    for _ in range(50):  # hammering with requests that cannot fit changes nothing
        assert not (await limiter.check(tag, [big], now_us=T0)).allowed
    for _ in range(3):
        assert (await limiter.check(tag, [small], now_us=T0)).allowed
    assert not (await limiter.check(tag, [small], now_us=T0)).allowed


async def test_several_buckets_commit_all_or_nothing(limiter: Limiter) -> None:
    tag = _tag()
    minute = Bucket("minute", emission_us=SECOND, burst=10, cost=1)
    day = Bucket("day", emission_us=60 * SECOND, burst=2, cost=1)
    assert (await limiter.check(tag, [minute, day], now_us=T0)).allowed
    assert (await limiter.check(tag, [minute, day], now_us=T0)).allowed
    denied = await limiter.check(tag, [minute, day], now_us=T0)
    assert not denied.allowed and denied.retry_after_us == 60 * SECOND
    # The day cap's denial did not use minute quota: 8 of 10 remain.
    alone = await limiter.check(tag, [minute], now_us=T0)
    assert alone.allowed and alone.buckets[0].remaining == 7


async def test_entities_do_not_share_buckets(limiter: Limiter) -> None:
    bucket = Bucket("b", emission_us=SECOND, burst=1, cost=1)
    assert (await limiter.check("t:alice", [bucket], now_us=T0)).allowed
    assert not (await limiter.check("t:alice", [bucket], now_us=T0)).allowed
    assert (await limiter.check("t:bob", [bucket], now_us=T0)).allowed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400_000), st.integers(min_value=1, max_value=4)),
        min_size=1,
        max_size=40,
    ),
    emission_ms=st.integers(min_value=1, max_value=300),
    burst=st.integers(min_value=1, max_value=6),
)
async def test_matches_the_reference_on_random_arrivals(
    limiter: Limiter, steps: list[tuple[int, int]], emission_ms: int, burst: int
) -> None:
    tag, now = _tag(), T0
    model = TokenBucket(emission_us=emission_ms * 1000, burst=burst)
    for gap, cost in steps:
        now += gap
        bucket = Bucket("b", emission_us=emission_ms * 1000, burst=burst, cost=min(cost, burst))
        decision = await limiter.check(tag, [bucket], now_us=now)
        assert (decision.allowed, decision.retry_after_us) == model.offer(now, min(cost, burst))


async def test_redis_reads_its_own_clock(backend, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """Without a pinned clock the script uses Redis TIME: a burst of 5 at 1 per hour admits exactly 5."""
    limiter = RedisLimiter(backend)
    bucket = Bucket("b", emission_us=3600 * SECOND, burst=5, cost=1)
    results = [(await limiter.check("t:clock", [bucket])).allowed for _ in range(8)]
    assert results == [True] * 5 + [False] * 3
    # The stored TAT is ~5 h ahead of Redis' clock and the key expires with it.
    seconds, micros = redis_client.time()
    stored = int(redis_client.get(bucket_key("t:clock", "b")))
    assert abs(stored - (seconds * SECOND + micros) - 5 * 3600 * SECOND) < 60 * SECOND
    assert 0 < redis_client.pttl(bucket_key("t:clock", "b")) <= 5 * 3600 * 1000 + 1000


async def test_redis_denial_writes_nothing(backend, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    limiter = RedisLimiter(backend)
    bucket = Bucket("b", emission_us=SECOND, burst=1, cost=1)
    key = bucket_key("t:deny", "b")
    assert (await limiter.check("t:deny", [bucket], now_us=T0)).allowed
    before = (redis_client.get(key), redis_client.pttl(key))
    assert not (await limiter.check("t:deny", [bucket], now_us=T0)).allowed
    assert redis_client.get(key) == before[0]
    assert redis_client.pttl(key) <= before[1]
    # A denied first request on an empty entity creates no key at all.
    huge = Bucket("b", emission_us=SECOND, burst=1, cost=2)
    assert not (await limiter.check("t:fresh", [huge], now_us=T0)).allowed
    assert redis_client.exists(bucket_key("t:fresh", "b")) == 0


@pytest.mark.parametrize("tag", ["a:eip155:1:0xAbC", "ip6:2001:db8::/64"])
def test_keys_share_the_entity_hash_tag(tag: str) -> None:
    assert bucket_key(tag, "ip:all") == f"ig:rl:{{{tag}}}:ip:all"
