"""Retries of one deployment: the only place in imagegate that retries (tenacity).

A failed call is tried again only when all of these hold:
- its FailureClass allows it (policy.may_retry, with the deployment's `idempotent` / `retry_on_5xx`);
- attempts are left (`retry.attempts` counts the first call);
- the wait still fits the deadline. The wait is max(Retry-After capped at `retry_after_cap_seconds`,
  full-jitter exponential backoff capped at `backoff_cap_seconds`), so a 429 is retried only when
  its (capped) Retry-After fits;
- the retry budget has room: per deployment, retries stay under `budget_ratio` of first attempts
  over a sliding window (plus `budget_min_retries`), so a failing upstream is not hammered.
The last error is re-raised for the executor to fall back on.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from gateway import metrics
from gateway.config.policy import RetryConfig
from gateway.errors import FailureClass, ProviderError
from gateway.routing.policy import may_retry

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RetryBudget:
    """Per-deployment sliding-window budget: retries <= max(min_retries, ratio * first attempts)."""

    def __init__(self, config: RetryConfig | None = None, *, clock: Clock = time.monotonic) -> None:
        self.config = config or RetryConfig()
        self._clock = clock
        self._requests: dict[str, deque[float]] = {}
        self._retries: dict[str, deque[float]] = {}

    def configure(self, config: RetryConfig) -> None:
        self.config = config

    def record_request(self, label: str) -> None:
        now = self._clock()
        # Trimmed here too, not only when a retry is weighed: a deployment that never fails would
        # otherwise keep every request's time for ever (the RSS of a long run grew ~60 B a request).
        self._trim(self._requests.setdefault(label, deque()), now).append(now)

    def try_spend(self, label: str) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        now = self._clock()
        requests = self._trim(self._requests.setdefault(label, deque()), now)
        retries = self._trim(self._retries.setdefault(label, deque()), now)
        allowed = max(self.config.budget_min_retries, self.config.budget_ratio * len(requests))
        if len(retries) + 1 > allowed:
            return False
        retries.append(now)
        return True

    def _trim(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] < now - self.config.budget_window_seconds:
            times.popleft()
        return times


@dataclass(frozen=True, slots=True)
class RetryEnv:
    """What the loop needs besides the call: config, budget and injectable randomness and time."""

    config: RetryConfig
    budget: RetryBudget
    rng: random.Random
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep


async def call_with_retries(
    call: Callable[[int], Awaitable[T]],
    *,
    label: str,
    idempotent: bool,
    retry_on_5xx: bool,
    deadline: float,
    env: RetryEnv,
) -> T:
    """Run `call(attempt_number)` until it succeeds or policy, attempts, deadline or budget say stop."""
    env.budget.record_request(label)

    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, ProviderError) and may_retry(
            exc.failure, idempotent=idempotent, retry_on_5xx=retry_on_5xx
        )

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= env.config.attempts:
            return True
        if env.clock() + state.upcoming_sleep >= deadline:
            return True  # the wait (e.g. a long Retry-After) does not fit the deadline
        if not env.budget.try_spend(label):
            metrics.RETRY_BUDGET_EXHAUSTED.labels(label).inc()
            return True
        return False

    def count(state: RetryCallState) -> None:
        exc = _error_of(state)
        metrics.RETRIES.labels(label, exc.failure.value).inc()

    retrying = AsyncRetrying(
        retry=retry_if_exception(retryable),
        wait=lambda state: wait_seconds(_error_of(state), state.attempt_number, env.config, env.rng),
        stop=stop,
        sleep=env.sleep,
        before_sleep=count,
        reraise=True,
    )
    provider_failures: list[ProviderError] = []

    async def tracked(number: int) -> T:
        try:
            return await call(number)
        except ProviderError as exc:
            if exc.failure is not FailureClass.CIRCUIT_OPEN:
                provider_failures.append(exc)
            raise

    try:
        async for attempt in retrying:
            with attempt:
                return await tracked(attempt.retry_state.attempt_number)
    except ProviderError as exc:
        # The breaker opened on this request's own failure: report that failure, not the skip.
        if exc.failure is FailureClass.CIRCUIT_OPEN and provider_failures:
            raise provider_failures[-1] from exc
        raise
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def wait_seconds(error: ProviderError, attempt: int, config: RetryConfig, rng: random.Random) -> float:
    """max(Retry-After capped, full-jitter exponential backoff capped) before try `attempt + 1`."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempt - 1))
    backoff = rng.uniform(0, ceiling)
    retry_after = min(error.retry_after or 0.0, config.retry_after_cap_seconds)
    return max(retry_after, backoff)


def _error_of(state: RetryCallState) -> ProviderError:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    assert isinstance(exc, ProviderError)
    return exc
