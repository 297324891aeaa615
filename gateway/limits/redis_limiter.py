"""GCRA in Redis: one atomic Lua script per check, reading Redis' own clock (TIME)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.limits.gcra import GCRA_LUA, Bucket, BucketState, Decision, Limiter, bucket_key
from gateway.redis.backend import RedisBackend
from gateway.redis.client import RedisClient


class RedisLimiter(Limiter):
    """Raises `RedisUnavailable` when Redis cannot decide; the caller applies the fail mode."""

    kind = "redis"

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self.backend = backend  # one_trip runs its script only where these buckets live
        self._script = backend.register_script(GCRA_LUA)  # EVALSHA, EVAL on NOSCRIPT

    async def check(self, tag: str, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        keys = [bucket_key(tag, b.name) for b in buckets]
        args: list[int | str] = ["" if now_us is None else now_us]
        for b in buckets:
            args += [b.emission_us, b.limit_us, b.cost]

        async def run(client: RedisClient) -> list[int]:
            reply = await self._script(keys=keys, args=args, client=client)
            return [int(value) for value in reply]

        reply = await self._backend.call("ratelimit", run)
        states = tuple(BucketState(reply[i], reply[i + 1]) for i in range(2, len(reply), 2))
        return Decision(bool(reply[0]), reply[1], states)
