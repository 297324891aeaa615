"""Each failure class -> retried or not, fallen back or not, as spec/routing-policy.md says.

Deployment `a` always fails with the class under test, `b` always succeeds; we count calls.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config.policy import FallbackConfig
from gateway.errors import FailureClass
from gateway.merge import error_for
from gateway.routing.policy import POLICY, counts_for_breaker, may_fall_back, may_retry
from tests.routing.helpers import FakeAdapter, router_for, run, runtime_with, trail

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

# class -> (calls to a, b called?, final status if b were absent): the spec table's rows
TABLE = [
    (FailureClass.CONNECT, 3, True, 502),
    (FailureClass.TRANSIENT, 3, True, 502),
    (FailureClass.AMBIGUOUS, 1, False, 504),
    (FailureClass.RATE_LIMITED, 3, True, 503),
    (FailureClass.CREDENTIAL, 1, True, 502),
    (FailureClass.QUOTA, 1, True, 502),
    (FailureClass.MODEL_UNAVAILABLE, 1, True, 502),
    (FailureClass.CALLER_FAULT, 1, True, 400),
    (FailureClass.CONTENT_POLICY, 1, False, 400),
    (FailureClass.UPSTREAM_INVALID, 1, True, 502),
]


@pytest.mark.parametrize(("failure", "a_calls", "falls_back", "status"), TABLE, ids=lambda v: str(v))
async def test_failure_class_retry_and_fallback(
    failure: FailureClass, a_calls: int, falls_back: bool, status: int
) -> None:
    a = FakeAdapter("a", [failure], retry_after=0.5 if failure is FailureClass.RATE_LIMITED else None)
    b = FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    [outcome] = await run(runtime, router_for(runtime))
    assert a.calls == a_calls
    assert b.calls == (1 if falls_back else 0)
    assert (outcome.result is not None) is falls_back
    assert error_for([_error(failure)]).status_code == status
    expected = [("a/a1", failure.value)] * a_calls + ([("b/b1", "ok")] if falls_back else [])
    assert trail([outcome]) == expected


def _error(failure: FailureClass):
    from gateway.errors import ProviderError

    return ProviderError("a", failure, "x", retry_after=1.0)


async def test_retry_on_5xx_false_moves_on_after_one_call() -> None:
    routing = ROUTING.replace("a: {adapter: mock}", "a: {adapter: mock, retry_on_5xx: false}")
    a, b = FakeAdapter("a", ["transient"]), FakeAdapter("b")
    runtime = runtime_with(routing, {"a": a, "b": b})
    await run(runtime, router_for(runtime))
    assert (a.calls, b.calls) == (1, 1)


async def test_read_timeout_after_send_not_retried_unless_idempotent() -> None:
    a, b = FakeAdapter("a", ["ambiguous"]), FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    [outcome] = await run(runtime, router_for(runtime))
    assert a.calls == 1 and b.calls == 0  # never re-sent: it may have been billed
    assert error_for(outcome.failures).status_code == 504

    idempotent = ROUTING.replace("- {provider: a, model: a1}", "- {provider: a, model: a1, idempotent: true}")
    a2 = FakeAdapter("a", ["ambiguous", "ambiguous", "ok"])
    runtime = runtime_with(idempotent, {"a": a2, "b": FakeAdapter("b")})
    [outcome] = await run(runtime, router_for(runtime))
    assert a2.calls == 3 and outcome.result is not None


async def test_on_ambiguous_fallback_and_on_content_policy_fallback_opt_in() -> None:
    routing = ROUTING + "fallback: {on_ambiguous: fallback, on_content_policy: true}\n"
    for failure in ("ambiguous", "content_policy"):
        a, b = FakeAdapter("a", [failure]), FakeAdapter("b")
        runtime = runtime_with(routing, {"a": a, "b": b})
        [outcome] = await run(runtime, router_for(runtime))
        assert (a.calls, b.calls) == (1, 1) and outcome.result is not None


async def test_capacity_falls_back_without_sending() -> None:
    routing = ROUTING.replace("a: {adapter: mock}", "a: {adapter: mock, max_concurrency: 1, lease_wait_seconds: 0}")
    a, b = FakeAdapter("a"), FakeAdapter("b")
    runtime = runtime_with(routing, {"a": a, "b": b})
    router = router_for(runtime)
    async with router.gate.lease("a/a1", limit=1, wait_seconds=0):  # a's only slot is taken
        [outcome] = await run(runtime, router)
    assert (a.calls, b.calls) == (0, 1)
    assert trail([outcome]) == [("a/a1", "capacity"), ("b/b1", "ok")]


@given(
    failure=st.sampled_from(list(FailureClass)),
    idempotent=st.booleans(),
    retry_on_5xx=st.booleans(),
)
def test_policy_invariants(failure: FailureClass, idempotent: bool, retry_on_5xx: bool) -> None:
    defaults = FallbackConfig()
    retried = may_retry(failure, idempotent=idempotent, retry_on_5xx=retry_on_5xx)
    if failure is FailureClass.AMBIGUOUS:
        assert retried is idempotent
    if failure in (FailureClass.CONTENT_POLICY, FailureClass.CALLER_FAULT, FailureClass.CREDENTIAL,
                   FailureClass.QUOTA, FailureClass.DEADLINE, FailureClass.CAPACITY):
        assert not retried
    assert not (failure is FailureClass.CONTENT_POLICY and may_fall_back(failure, defaults))
    assert not (failure is FailureClass.DEADLINE and may_fall_back(failure, defaults))
    assert counts_for_breaker(failure) is (failure in (FailureClass.CONNECT, FailureClass.TRANSIENT, FailureClass.AMBIGUOUS))
    assert failure in POLICY


class _BuggyAdapter(FakeAdapter):
    async def generate(self, req, ctx):  # type: ignore[no-untyped-def]
        self.calls += 1
        raise KeyError("oops")


async def test_an_adapter_bug_is_not_retried_and_falls_back() -> None:
    a, b = _BuggyAdapter("a"), FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    [outcome] = await run(runtime, router_for(runtime))
    assert (a.calls, b.calls) == (1, 1)
    assert trail([outcome]) == [("a/a1", "upstream_invalid"), ("b/b1", "ok")]
