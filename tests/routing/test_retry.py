"""The retry loop: Retry-After honoured and capped, backoff bounds, the retry budget."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from gateway import metrics
from gateway.config.policy import RetryConfig
from gateway.errors import FailureClass, ProviderError
from gateway.routing.retry import RetryBudget, wait_seconds
from tests.routing.helpers import FakeAdapter, FakeClock, RecordingSleep, router_for, run, runtime_with, trail

ROUTING = """
providers:
  a: {adapter: mock}
  b: {adapter: mock}
models:
  m:
    deployments:
      - {provider: a, model: a1}
      - {provider: b, model: b1}
"""


async def test_retry_after_is_honoured() -> None:
    a = FakeAdapter("a", ["rate_limited", "ok"], retry_after=2.0)
    runtime = runtime_with(ROUTING, {"a": a, "b": FakeAdapter("b")})
    sleep = RecordingSleep()
    [outcome] = await run(runtime, router_for(runtime, sleep=sleep))
    assert a.calls == 2 and outcome.deployment is not None and outcome.deployment.provider == "a"
    assert sleep.waits == [2.0]  # max(Retry-After, jitter <= 0.25 s)


async def test_retry_after_is_capped() -> None:
    routing = ROUTING + "retry: {retry_after_cap_seconds: 3}\n"
    a = FakeAdapter("a", ["rate_limited", "ok"], retry_after=500.0)
    runtime = runtime_with(routing, {"a": a, "b": FakeAdapter("b")})
    sleep = RecordingSleep()
    await run(runtime, router_for(runtime, sleep=sleep))
    assert sleep.waits == [3.0]


async def test_retry_after_beyond_the_deadline_falls_back_at_once() -> None:
    a, b = FakeAdapter("a", ["rate_limited"], retry_after=30.0), FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    sleep = RecordingSleep()
    [outcome] = await run(runtime, router_for(runtime, sleep=sleep), deadline=5.0)
    assert sleep.waits == [] and (a.calls, b.calls) == (1, 1)
    assert trail([outcome]) == [("a/a1", "rate_limited"), ("b/b1", "ok")]


async def test_exhausted_retry_budget_stops_retries() -> None:
    routing = ROUTING + "retry: {budget_ratio: 0.0, budget_min_retries: 1}\n"
    a, b = FakeAdapter("a", ["transient"]), FakeAdapter("b")
    runtime = runtime_with(routing, {"a": a, "b": b})
    router = router_for(runtime)
    exhausted = metrics.RETRY_BUDGET_EXHAUSTED.labels("a/a1")
    before = exhausted._value.get()
    await run(runtime, router)
    assert a.calls == 2  # one retry (the budget's minimum), not the configured two
    await run(runtime, router)
    assert a.calls == 3  # budget spent: no retry at all, straight to the fallback
    assert b.calls == 2
    assert exhausted._value.get() == before + 2


def test_budget_allows_a_share_of_requests_over_the_window() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryConfig(budget_ratio=0.2, budget_min_retries=0, budget_window_seconds=10), clock=clock)
    for _ in range(10):
        budget.record_request("d")
    assert [budget.try_spend("d") for _ in range(3)] == [True, True, False]
    clock.advance(11)  # the window slid past every request and retry
    assert budget.try_spend("d") is False
    for _ in range(5):
        budget.record_request("d")
    assert budget.try_spend("d") is True


@given(
    attempt=st.integers(min_value=1, max_value=30),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=10_000)),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_wait_is_max_of_capped_retry_after_and_capped_jitter(
    attempt: int, retry_after: float | None, seed: int
) -> None:
    config = RetryConfig(backoff_base_seconds=0.5, backoff_cap_seconds=4.0, retry_after_cap_seconds=60.0)
    error = ProviderError("p", FailureClass.RATE_LIMITED, "429", retry_after=retry_after)
    wait = wait_seconds(error, attempt, config, random.Random(seed))
    assert 0 <= wait <= 60.0
    if retry_after is not None:
        assert wait >= min(retry_after, 60.0)
    else:
        assert wait <= min(4.0, 0.5 * 2 ** (attempt - 1))


FAILURES = ["ok", "connect", "transient", "ambiguous", "rate_limited", "quota", "content_policy", "upstream_invalid"]


@given(
    script=st.lists(st.sampled_from(FAILURES), min_size=1, max_size=6),
    attempts=st.integers(min_value=1, max_value=5),
    idempotent=st.booleans(),
)
def test_calls_never_exceed_attempts_and_content_policy_never_falls_back(
    script: list[str], attempts: int, idempotent: bool
) -> None:
    import asyncio

    routing = ROUTING.replace("{provider: a, model: a1}", f"{{provider: a, model: a1, idempotent: {str(idempotent).lower()}}}")
    routing += f"retry: {{attempts: {attempts}, budget_min_retries: 100}}\n"
    a, b = FakeAdapter("a", list(script), retry_after=0.01), FakeAdapter("b")
    runtime = runtime_with(routing, {"a": a, "b": b})
    [outcome] = asyncio.run(run(runtime, router_for(runtime)))
    tried = [x.outcome for x in outcome.attempts if x.deployment == "a/a1"]
    assert 1 <= a.calls == len(tried) <= attempts
    assert "content_policy" not in tried[:-1] and "quota" not in tried[:-1]  # never retried
    if not idempotent:
        assert "ambiguous" not in tried[:-1]  # an unknown outcome is never re-sent
    if tried[-1] in ("content_policy", "ambiguous"):
        assert b.calls == 0  # and not handed to a second provider by default


def test_a_deployment_that_never_fails_keeps_only_its_window_of_request_times() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryConfig(budget_window_seconds=10), clock=clock)
    for _ in range(5_000):  # 100 requests a second for 50 s, no retry ever weighed
        budget.record_request("openai/gpt-image-1")
        clock.advance(0.01)
    assert len(budget._requests["openai/gpt-image-1"]) <= 1_001
