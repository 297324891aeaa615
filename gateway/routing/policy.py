"""The routing policy as one pure table: FailureClass -> what the executor does next.

The rows are spec/routing-policy.md (authoritative). Deployment flags (`idempotent`,
`retry_on_5xx`) and the YAML `fallback:` section adjust them in `decide`; nothing here does I/O.

| class             | retry same deployment                 | fall back (default)  | breaker counts |
| ----------------- | ------------------------------------- | -------------------- | -------------- |
| CONNECT           | yes                                   | yes                  | yes            |
| TRANSIENT (5xx)   | yes if `retry_on_5xx` (default true)  | yes                  | yes            |
| AMBIGUOUS         | only if the deployment is idempotent  | `on_ambiguous`: fail | yes            |
| RATE_LIMITED      | if Retry-After (capped) fits deadline | yes                  | no             |
| CREDENTIAL, QUOTA | no                                    | yes                  | no             |
| MODEL_UNAVAILABLE | no                                    | yes                  | no             |
| CALLER_FAULT      | no                                    | yes (logged loudly)  | no             |
| CONTENT_POLICY    | no                                    | `on_content_policy`: fail | no        |
| UPSTREAM_INVALID  | no                                    | yes                  | no             |
| CAPACITY          | n/a (nothing sent)                    | yes                  | no             |
| CIRCUIT_OPEN      | n/a (skipped)                         | yes                  | no             |
| DEADLINE          | no                                    | no (time is up)      | no             |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gateway.config.policy import FallbackConfig, fallback_allowed
from gateway.errors import FailureClass


class Retry(Enum):
    NO = "no"
    YES = "yes"
    IF_5XX_ALLOWED = "if_retry_on_5xx"
    IF_IDEMPOTENT = "if_idempotent"
    IF_RETRY_AFTER_FITS = "if_retry_after_fits"


@dataclass(frozen=True, slots=True)
class Rule:
    retry: Retry
    fallback_key: str | None  # the FallbackConfig field deciding fallback; None: never fall back
    counts_for_breaker: bool


POLICY: dict[FailureClass, Rule] = {
    FailureClass.CONNECT: Rule(Retry.YES, "on_connect", True),
    FailureClass.TRANSIENT: Rule(Retry.IF_5XX_ALLOWED, "on_transient", True),
    FailureClass.AMBIGUOUS: Rule(Retry.IF_IDEMPOTENT, "on_ambiguous", True),
    FailureClass.RATE_LIMITED: Rule(Retry.IF_RETRY_AFTER_FITS, "on_rate_limited", False),
    FailureClass.CREDENTIAL: Rule(Retry.NO, "on_credential", False),
    FailureClass.QUOTA: Rule(Retry.NO, "on_quota", False),
    FailureClass.MODEL_UNAVAILABLE: Rule(Retry.NO, "on_model_unavailable", False),
    FailureClass.CALLER_FAULT: Rule(Retry.NO, "on_caller_fault", False),
    FailureClass.CONTENT_POLICY: Rule(Retry.NO, "on_content_policy", False),
    FailureClass.UPSTREAM_INVALID: Rule(Retry.NO, "on_upstream_invalid", False),
    FailureClass.CAPACITY: Rule(Retry.NO, "on_capacity", False),
    FailureClass.CIRCUIT_OPEN: Rule(Retry.NO, "on_circuit_open", False),
    FailureClass.DEADLINE: Rule(Retry.NO, None, False),
}


def may_retry(failure: FailureClass, *, idempotent: bool, retry_on_5xx: bool) -> bool:
    """Whether the class allows another try of the same deployment (Retry-After fit is checked by
    the retry loop, which knows the clock)."""
    rule = POLICY[failure].retry
    if rule is Retry.IF_5XX_ALLOWED:
        return retry_on_5xx
    if rule is Retry.IF_IDEMPOTENT:
        return idempotent
    return rule in (Retry.YES, Retry.IF_RETRY_AFTER_FITS)


def may_fall_back(failure: FailureClass, fallback: FallbackConfig) -> bool:
    key = POLICY[failure].fallback_key
    return key is not None and fallback_allowed(getattr(fallback, key))


def counts_for_breaker(failure: FailureClass) -> bool:
    """Provider-health failures only: not 4xx, content policy, 429, capacity or our deadline."""
    return POLICY[failure].counts_for_breaker


def describe(fallback: FallbackConfig) -> list[tuple[str, str, str]]:
    """(class, retry, fallback) rows for `imagegate check-config`."""
    rows = []
    for failure, rule in POLICY.items():
        allowed = may_fall_back(failure, fallback)
        rows.append((failure.value, rule.retry.value, "fallback" if allowed else "fail"))
    return rows
