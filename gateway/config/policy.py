"""The routing-policy sections of the routing YAML: retry, fallback, circuit_breaker, timeouts.

Pure msgspec Structs with the defaults of spec/routing-policy.md; `gateway.config` embeds them and
`gateway.routing` reads them. Every knob is explained in docs/routing.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# `fail` / `fallback`, or a YAML boolean (true = fallback, false = fail).
FallbackChoice = Literal["fail", "fallback"] | bool
# Bounds, so a nonsense number fails at load naming its key instead of misbehaving at run time.
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=86400)]  # finite: .inf would pass ge=0
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=86400)]


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    attempts: AtLeastOne = 3  # total tries of one deployment, the first included
    backoff_base_seconds: Seconds = 0.25  # full jitter: uniform(0, min(cap, base * 2**(retry-1)))
    backoff_cap_seconds: Seconds = 8.0
    retry_after_cap_seconds: Seconds = 60.0  # a longer Retry-After is clamped to this
    budget_ratio: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.2  # retries may be at most this share of first attempts (per deployment)
    budget_min_retries: NonNegativeInt = 3  # always allowed within a window, so a quiet gateway can still retry
    budget_window_seconds: PositiveSeconds = 10.0


class FallbackConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Whether a failure moves on to the next deployment. Defaults follow the spec table."""

    on_connect: FallbackChoice = "fallback"
    on_transient: FallbackChoice = "fallback"
    on_rate_limited: FallbackChoice = "fallback"
    on_credential: FallbackChoice = "fallback"
    on_quota: FallbackChoice = "fallback"
    on_model_unavailable: FallbackChoice = "fallback"
    on_caller_fault: FallbackChoice = "fallback"
    on_upstream_invalid: FallbackChoice = "fallback"
    on_capacity: FallbackChoice = "fallback"
    on_circuit_open: FallbackChoice = "fallback"
    on_ambiguous: FallbackChoice = "fail"  # both providers may bill: opt in explicitly
    on_content_policy: FallbackChoice = "fail"  # no provider-shopping for refused content


class CircuitBreakerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    consecutive_failures: AtLeastOne = 5  # open after this many provider-health failures in a row
    failure_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5  # ... or this share of failures over the window
    min_requests: AtLeastOne = 20  # ... once the window holds at least this many calls
    window_seconds: PositiveSeconds = 30.0
    open_seconds: Seconds = 30.0  # then half-open: let `half_open_probes` calls through
    half_open_probes: AtLeastOne = 1


class TimeoutsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    connect_seconds: PositiveSeconds = 5.0  # TCP + TLS (applied to the provider's HTTP client)
    attempt_seconds: PositiveSeconds | None = None  # one upstream call; expiry = outcome unknown (ambiguous)
    total_seconds: PositiveSeconds | None = None  # all tries of this deployment within one request


def fallback_allowed(choice: FallbackChoice) -> bool:
    return choice is True or choice == "fallback"
