"""GCRA (generic cell rate algorithm): the arithmetic, the Redis Lua script and the in-memory twin.

One stored number per bucket: the theoretical arrival time (TAT), in microseconds. With emission
interval T and burst b, a request of cost c at time `now` conforms iff `now >= max(tat, now) + c·T - b·T`.
Several buckets of one entity are checked in one call and written only if every one admits
(a denied request writes nothing). Redis and memory share this file's semantics exactly.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# KEYS: one bucket per policy, all with the same hash tag. ARGV[1]: "" (use Redis TIME) or a fixed
# clock in microseconds (tests only); then per key: T (µs), limit = burst·T (µs), cost.
# Returns {allowed, retry_after_us, remaining_1, reset_after_us_1, remaining_2, ...}.
GCRA_LUA = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local allowed = 1
local retry = 0
local tats = {}
local new_tats = {}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 3
  local t = tonumber(ARGV[base])
  local limit = tonumber(ARGV[base + 1])
  local cost = tonumber(ARGV[base + 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + t * cost
  local allow_at = new_tat - limit
  if now < allow_at then
    allowed = 0
    if allow_at - now > retry then retry = allow_at - now end
  end
  tats[i] = tat
  new_tats[i] = new_tat
end
local out = {allowed, retry}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 3
  local t = tonumber(ARGV[base])
  local limit = tonumber(ARGV[base + 1])
  local tat = tats[i]
  if allowed == 1 then
    tat = new_tats[i]
    -- An expired bucket equals a full one, so a grace second past the TAT changes no decision;
    -- it keeps a stalled caller (or a pinned test clock) from seeing a key vanish early.
    local ttl_ms = math.floor((tat - now) / 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', ttl_ms)
  end
  local remaining = math.floor((now + limit - tat) / t)
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = tat - now
end
return out
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One policy applied to one entity: `name` is the bucket's suffix in the key."""

    name: str
    emission_us: int  # T
    burst: int
    cost: int

    @property
    def limit_us(self) -> int:
        return self.burst * self.emission_us


@dataclass(frozen=True, slots=True)
class BucketState:
    remaining: int  # whole units of cost still admissible now
    reset_after_us: int  # until the bucket is full again


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_us: int  # 0 when allowed
    buckets: tuple[BucketState, ...]


def bucket_key(tag: str, name: str) -> str:
    """`ig:rl:{<tag>}:<name>`: every bucket of one entity shares the hash tag (one cluster slot)."""
    return f"ig:rl:{{{tag}}}:{name}"


def decide(tats: Sequence[int | None], buckets: Sequence[Bucket], now: int) -> tuple[Decision, list[int]]:
    """The pure step: stored TATs in, decision and the TATs to store (if allowed) out."""
    current = [now if tat is None or tat < now else tat for tat in tats]
    proposed = [tat + b.emission_us * b.cost for tat, b in zip(current, buckets, strict=True)]
    retry = 0
    for new_tat, b in zip(proposed, buckets, strict=True):
        retry = max(retry, new_tat - b.limit_us - now)
    allowed = retry <= 0
    final = proposed if allowed else current
    states = tuple(
        BucketState(max(0, (now + b.limit_us - tat) // b.emission_us), tat - now)
        for tat, b in zip(final, buckets, strict=True)
    )
    return Decision(allowed, 0 if allowed else retry, states), final


class Limiter(abc.ABC):
    """Checks all `buckets` of the entity `tag` at once; commits only if every bucket admits."""

    kind: str

    @abc.abstractmethod
    async def check(self, tag: str, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        """`now_us` pins the clock (tests); None uses the limiter's own clock (Redis TIME)."""

    async def aclose(self) -> None:
        return None


class MemoryLimiter(Limiter):
    """The in-process twin: same arithmetic, same commit rule; idle buckets are swept."""

    kind = "memory"

    def __init__(self, *, clock_us: Callable[[], int] | None = None, max_keys: int = 100_000) -> None:
        self._tats: dict[str, int] = {}
        self._clock = clock_us or _wall_clock_us
        self._max_keys = max_keys

    async def check(self, tag: str, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        now = self._clock() if now_us is None else now_us
        keys = [bucket_key(tag, b.name) for b in buckets]
        decision, tats = decide([self._tats.get(key) for key in keys], buckets, now)
        if decision.allowed:
            if len(self._tats) >= self._max_keys:
                self._sweep(now)
            self._tats.update(zip(keys, tats, strict=True))
        return decision

    def _sweep(self, now: int) -> None:
        """Drop buckets that are full again (TAT in the past): they hold no information."""
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        while len(self._tats) >= self._max_keys:  # still full of live buckets: forget the oldest
            self._tats.pop(next(iter(self._tats)))


def _wall_clock_us() -> int:
    return time.time_ns() // 1000
