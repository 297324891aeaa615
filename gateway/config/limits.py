"""The `limits:` section of the routing YAML: rate limits, leases and the Redis client's discipline.

    limits:
      trusted_proxies: [10.0.0.0/8]     # X-Forwarded-For is read only when the peer is one of these
      fail_closed: false                # Redis unreachable: false = per-process limiter, true = 503
      replicas: 3                       # the per-process limiter admits limit ÷ replicas
      ip:      {rate: 5, period_seconds: 1, burst: 20}
      account: {rate: 60, period_seconds: 60, burst: 10, cost: images,
                models: {flux-pro: {rate: 10, period_seconds: 60, burst: 2, cost: megapixels}}}
      leases:  {ttl_seconds: 30}        # the cap and the wait are per provider (max_concurrency, lease_wait_seconds)
      redis:   {timeout_ms: 200, pool_size: 64, pool_wait_ms: 1000, breaker_failures: 3,
                breaker_open_seconds: 2}
      admission: {max_concurrent: 32, max_queue: 2048, wait_seconds: 10}   # per process, see below

`admission` bounds the requests authenticating at once in one process (IP limit, signature check,
nonce claim, account limit); more wait, and one that waits `wait_seconds` or finds `max_queue`
already waiting gets 503 `service_unavailable` with Retry-After (gateway.limits.admission).

No `ip` / `account` section: that scope is not limited. A per-model entry replaces the scope's policy
for that model (its own bucket); other models share the scope's bucket.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import msgspec

Positive = Annotated[float, msgspec.Meta(gt=0, le=1e12)]  # finite: .inf would pass gt=0
Cost = Literal["requests", "images", "megapixels"]


class RatePolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`rate` units per `period_seconds`, with up to `burst` units at once (GCRA)."""

    rate: Positive
    burst: Annotated[int, msgspec.Meta(ge=1)]
    period_seconds: Positive = 1.0
    cost: Cost = "requests"  # what one request weighs: 1, its image count, or its megapixels

    @property
    def emission_us(self) -> int:
        """T: microseconds one unit of cost occupies."""
        return max(1, round(self.period_seconds * 1_000_000 / self.rate))


class ScopeLimits(RatePolicy, frozen=True, kw_only=True, forbid_unknown_fields=True):
    models: dict[str, RatePolicy] = msgspec.field(default_factory=dict)

    def policy_for(self, model: str) -> tuple[str, RatePolicy]:
        """The bucket name and policy that apply to `model` (a canonical slug)."""
        override = self.models.get(model)
        if override is not None:
            return f"m:{model}", override
        return "all", self


class LeaseConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    ttl_seconds: Positive = 30.0  # a crashed replica's leases free after this; live ones renew at ttl/3


class RedisClientConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=5000)] = 200  # connect and read, per command
    pool_size: Annotated[int, msgspec.Meta(ge=1)] = 64
    # Waiting for a free connection slot (wall time on a busy loop: generous, and running out of it
    # is overload, not a Redis failure; gateway.redis.client).
    pool_wait_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 1000
    breaker_failures: Annotated[int, msgspec.Meta(ge=1)] = 3  # consecutive errors that open the breaker
    breaker_open_seconds: Positive = 2.0  # then one probe call is let through


class AdmissionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_concurrent: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 32
    max_queue: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 2048
    wait_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0


class LimitsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    ip: ScopeLimits | None = None
    account: ScopeLimits | None = None
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    fail_closed: bool = False
    replicas: Annotated[int, msgspec.Meta(ge=1)] = 1
    leases: LeaseConfig = msgspec.field(default_factory=LeaseConfig)
    redis: RedisClientConfig = msgspec.field(default_factory=RedisClientConfig)
    admission: AdmissionConfig = msgspec.field(default_factory=AdmissionConfig)

    def __post_init__(self) -> None:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or CIDR") from None

    def unknown_models(self, known: set[str]) -> list[str]:
        """Config paths of per-model policies naming a model the routing file does not define."""
        scopes = (("ip", self.ip), ("account", self.account))
        return [
            f"limits.{name}.models.{model}"
            for name, scope in scopes
            if scope is not None
            for model in scope.models
            if model not in known
        ]
