"""One Redis round trip for the nonce claim and the account limit (docs/benchmarks.md, admission).

Admission used to make three calls per signed request: the IP limit, the replay claim (`SET NX GET
PX`) and the account limit (a GCRA script). The IP limit stays first and alone: it must refuse a
flood before any signature is verified, and it is keyed by another entity. The other two need the
verified account, so they run as ONE script after the signature check:

    1. claim the nonce (SET NX GET PX, exactly as `ReplayGuard` does on its own);
    2. a replay (a different digest, or the same one under `single_use`) returns at once: nothing
       else is written, so a replay never spends the account's budget (as before);
    3. else the account's GCRA buckets, committed only if every one admits (gcra.GCRA_LUA). A
       refusal keeps the claim: the nonce was spent on a request we answered 429 (as before).

How it is offered: `admit` puts an `AccountCheck` in a context variable around authentication;
`ReplayGuard.admit` runs the combined script when it can, and leaves the decision in the check.
When it cannot, nothing changes: the claim and the account check run as two calls.

It cannot when: the store is not Redis, or Redis is a Cluster (the nonce key
`ig:siwx:n:<chain>:<address>:<nonce>` and the bucket `ig:rl:{a:<account>}:…` are in different
slots; giving the nonce key the account's hash tag would rename it, and replicas on either side of
an upgrade would not see each other's claims), or `require_issued_nonce` (the issued nonce key is a
third slot), or there is no account limit. Later steps keyed by the account (a budget reservation,
an idempotency claim under `{a:<account>}`) join the same script: more KEYS in that hash slot,
evaluated after the claim and before the buckets commit, so one refusal still writes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from gateway.config.limits import RatePolicy
from gateway.limits.gcra import GCRA_LUA, Bucket, BucketState, Decision, bucket_key
from gateway.redis.backend import RedisBackend

# KEYS[1]: the claim key; KEYS[2..]: the account's buckets. ARGV[1]: digest, ARGV[2]: claim TTL (ms),
# ARGV[3]: "1" when the same digest again is accepted (`session`); ARGV[4..]: gcra.GCRA_LUA's ARGV.
# Returns {previous} on a replay, else {previous or "", allowed, retry_after_us, remaining, reset, ...}.
ONE_TRIP_LUA = (
    """
local prev = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET', 'PX', ARGV[2])
if prev and (prev ~= ARGV[1] or ARGV[3] ~= '1') then
  return {prev}
end
local keys = {}
for i = 2, #KEYS do keys[i - 1] = KEYS[i] end
local argv = {}
for i = 4, #ARGV do argv[i - 3] = ARGV[i] end
local function gcra()
"""
    + GCRA_LUA.replace("KEYS", "keys").replace("ARGV", "argv")
    + """
end
local out = gcra()
table.insert(out, 1, prev or '')
return out
"""
)


@dataclass(frozen=True, slots=True)
class Plan:
    """The account limit as `RateLimits` would check it: entity tag, bucket, header name, policy."""

    tag: str
    bucket: Bucket
    name: str
    policy: RatePolicy
    backend: RedisBackend  # the limiter's Redis: the script runs only where the buckets live


@dataclass(slots=True)
class AccountCheck:
    """Offered by admission; `plan(account)` is None when the account has no limit to check."""

    plan: Callable[[str], Plan | None]
    planned: Plan | None = None
    decision: Decision | None = field(default=None)


_OFFERED: ContextVar[AccountCheck | None] = ContextVar("imagegate_account_check", default=None)


@contextmanager
def offered(check: AccountCheck | None) -> Iterator[AccountCheck | None]:
    token = _OFFERED.set(check)
    try:
        yield check
    finally:
        _OFFERED.reset(token)


def current() -> AccountCheck | None:
    return _OFFERED.get()


def script_args(
    plan: Plan, digest: bytes, ttl_ms: int, accept_same: bool
) -> tuple[list[str], list[bytes | str | int | float]]:
    keys = [bucket_key(plan.tag, plan.bucket.name)]
    args: list[bytes | str | int | float] = [digest, ttl_ms, "1" if accept_same else "0", ""]
    args += [plan.bucket.emission_us, plan.bucket.limit_us, plan.bucket.cost]
    return keys, args


def parse_reply(reply: list[object]) -> tuple[bytes | None, Decision | None]:
    """(previous claim value or None, the account decision or None when the claim was a replay)."""
    first = reply[0]
    previous = first if isinstance(first, bytes) and first else None
    if len(reply) == 1:
        return previous, None
    values = [int(v) for v in reply[1:]]  # type: ignore[call-overload]
    states = tuple(BucketState(values[i], values[i + 1]) for i in range(2, len(values), 2))
    return previous, Decision(bool(values[0]), values[1], states)
