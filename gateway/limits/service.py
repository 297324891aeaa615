"""The two rate-limit checks on the request path, their fail mode and their response headers.

`check_ip` runs before signature verification (cheap, stops floods of junk signatures); `check_account`
runs after it, keyed by the CAIP-10 account. The config is passed per call, so a hot-reloaded
`limits:` section applies to the next request. Headers (IETF draft-ietf-httpapi-ratelimit-headers):
every policy evaluated for a request is advertised in `RateLimit-Policy` and `RateLimit`, on
successes and on 429s alike (`gateway.api.metrics.ObserveMiddleware` writes them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from gateway import sizing
from gateway.canonical import ImageRequest
from gateway.config.limits import LimitsConfig, RatePolicy, ScopeLimits
from gateway.errors import RateLimited, ServiceUnavailable
from gateway.limits.admission import overloaded
from gateway.limits.gcra import Bucket, Decision, Limiter, MemoryLimiter
from gateway.limits.one_trip import Plan
from gateway.limits.redis_limiter import RedisLimiter
from gateway.metrics import DEGRADED_DECISIONS, RATE_LIMITED
from gateway.redis.backend import RedisBusy, RedisUnavailable

log = logging.getLogger("imagegate.limits")
STATE_KEY = "ratelimit_policies"
_MEGAPIXEL = 1024 * 1024
_DEFAULT_SIZE = (sizing.BASE_LONG_EDGE, sizing.BASE_LONG_EDGE)  # no size asked: the usual provider default


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One policy as evaluated for this request, for the response headers."""

    name: str  # "ip", "account" or "account:<model>"
    policy: RatePolicy
    remaining: int
    reset_seconds: int


def request_cost(policy: RatePolicy, req: ImageRequest) -> int:
    """Units one request weighs, capped at the burst so every request can eventually pass."""
    if policy.cost == "images":
        cost = req.n
    elif policy.cost == "megapixels":
        # The size the adapters will ask for (resolution and aspect_ratio included), not just width x height.
        width, height = sizing.requested_size(req) or _DEFAULT_SIZE
        pixels = req.n * width * height
        cost = max(1, math.ceil(pixels / _MEGAPIXEL))
    else:
        cost = 1
    return min(cost, policy.burst)


class RateLimits:
    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self._local = limiter if isinstance(limiter, MemoryLimiter) else MemoryLimiter()

    async def check_ip(
        self,
        state: MutableMapping[str, Any],
        config: LimitsConfig,
        identity: str,
        req: ImageRequest,
        model: str,
    ) -> None:
        if config.ip is not None:
            await self._check(state, config, "ip", config.ip, identity, req, model)

    async def check_ip_nonce(self, state: MutableMapping[str, Any], config: LimitsConfig, identity: str) -> None:
        """The IP limit on `GET /api/v1/auth/nonce` (each call stores a key for 5 minutes): the `ip`
        policy, one unit a call, in a bucket of its own so nonces and generations do not share a budget."""
        if config.ip is not None:
            policy = config.ip
            bucket = Bucket("ip:nonce", policy.emission_us, policy.burst, 1)
            await self._enforce(state, config, "ip", "ip:nonce", policy, identity, bucket)

    async def check_account(
        self,
        state: MutableMapping[str, Any],
        config: LimitsConfig,
        account: str,
        req: ImageRequest,
        model: str,
    ) -> None:
        if config.account is not None:
            await self._check(state, config, "account", config.account, f"a:{account}", req, model)

    def account_plan(self, config: LimitsConfig, account: str, req: ImageRequest, model: str) -> Plan | None:
        """The account check as one_trip can run it beside the nonce claim (None: not on Redis,
        or no account limit), so admission makes one round trip instead of two."""
        if config.account is None or not isinstance(self.limiter, RedisLimiter):
            return None
        bucket_name, policy = config.account.policy_for(model)
        bucket = Bucket(f"account:{bucket_name}", policy.emission_us, policy.burst, request_cost(policy, req))
        name = "account" if bucket_name == "all" else f"account:{model}"
        return Plan(f"a:{account}", bucket, name, policy, self.limiter.backend)

    def apply(self, state: MutableMapping[str, Any], plan: Plan, decision: Decision) -> None:
        """A decision the combined script made: headers and refusal exactly as `check_account`."""
        self._record(state, "account", plan.name, plan.policy, decision)

    async def check_key(
        self,
        state: MutableMapping[str, Any],
        config: LimitsConfig,
        key: str,
        limits: ScopeLimits,
        req: ImageRequest,
        model: str,
    ) -> None:
        """An operator API key's own limit (`auth.api_keys[].limits`), in a bucket of its own."""
        await self._check(state, config, "key", limits, f"k:{key}", req, model)

    async def _check(
        self,
        state: MutableMapping[str, Any],
        config: LimitsConfig,
        scope: str,
        limits: ScopeLimits,
        tag: str,
        req: ImageRequest,
        model: str,
    ) -> None:
        bucket_name, policy = limits.policy_for(model)
        bucket = Bucket(f"{scope}:{bucket_name}", policy.emission_us, policy.burst, request_cost(policy, req))
        name = scope if bucket_name == "all" else f"{scope}:{model}"
        await self._enforce(state, config, scope, name, policy, tag, bucket)

    async def _enforce(
        self,
        state: MutableMapping[str, Any],
        config: LimitsConfig,
        scope: str,
        name: str,
        policy: RatePolicy,
        tag: str,
        bucket: Bucket,
    ) -> None:
        self._record(state, scope, name, policy, await self._decide(config, scope, tag, bucket))

    def _record(
        self, state: MutableMapping[str, Any], scope: str, name: str, policy: RatePolicy, decision: Decision
    ) -> None:
        outcome = decision.buckets[0]
        if decision.allowed:
            evaluated = Evaluated(name, policy, outcome.remaining, _seconds(outcome.reset_after_us))
        else:
            evaluated = Evaluated(name, policy, 0, _seconds(decision.retry_after_us))
        state.setdefault(STATE_KEY, []).append(evaluated)
        if not decision.allowed:
            RATE_LIMITED.labels(scope).inc()
            raise RateLimited(
                f"{scope} rate limit exceeded; retry later", retry_after=decision.retry_after_us / 1_000_000
            )

    async def _decide(self, config: LimitsConfig, scope: str, tag: str, bucket: Bucket) -> Decision:
        try:
            return await self.limiter.check(tag, [bucket])
        except RedisBusy as exc:  # this process is overloaded: shed, neither blame Redis nor degrade
            raise overloaded("redis_pool") from exc
        except RedisUnavailable as exc:
            if config.fail_closed:
                DEGRADED_DECISIONS.labels("ratelimit", "reject").inc()
                raise ServiceUnavailable("rate limiter unavailable; retry shortly", retry_after=1) from exc
            DEGRADED_DECISIONS.labels("ratelimit", "local").inc()
            log.log(
                logging.DEBUG if exc.skipped else logging.WARNING,
                "%s limit decided per process: %s",
                scope,
                exc,
            )
            local = Bucket(
                bucket.name,
                bucket.emission_us * config.replicas,
                max(1, bucket.burst // config.replicas),
                min(bucket.cost, max(1, bucket.burst // config.replicas)),
            )
            return await self._local.check(tag, [local])

    async def aclose(self) -> None:
        await self.limiter.aclose()


def _seconds(us: int) -> int:
    return max(0, math.ceil(us / 1_000_000))


def _window_seconds(policy: RatePolicy) -> int:
    return max(1, math.ceil(policy.burst * policy.emission_us / 1_000_000))


def ratelimit_headers(evaluated: list[Evaluated]) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy: "account";q=10;w=60` and `RateLimit: "account";r=3;t=12` (structured lists)."""
    if not evaluated:
        return []
    policies = ", ".join(f'"{e.name}";q={e.policy.burst};w={_window_seconds(e.policy)}' for e in evaluated)
    current = ", ".join(f'"{e.name}";r={e.remaining};t={e.reset_seconds}' for e in evaluated)
    return [(b"ratelimit-policy", policies.encode("ascii")), (b"ratelimit", current.encode("ascii"))]
