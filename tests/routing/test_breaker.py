"""Circuit breaker: opens after N provider-health failures, skips the deployment, half-opens, closes."""

from __future__ import annotations

from gateway.config.policy import CircuitBreakerConfig
from gateway.routing.breaker import BreakerRegistry, State
from tests.routing.helpers import FakeAdapter, FakeClock, router_for, run, runtime_with, trail

ROUTING = """
providers:
  a: {adapter: mock}
  b: {adapter: mock}
models:
  m:
    deployments:
      - {provider: a, model: a1}
      - {provider: b, model: b1}
retry: {attempts: 1}
circuit_breaker: {consecutive_failures: 3, open_seconds: 30, half_open_probes: 1}
"""


async def test_opens_after_n_failures_skips_then_half_opens_and_closes() -> None:
    clock = FakeClock()
    a, b = FakeAdapter("a", ["transient", "transient", "transient", "ok"]), FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    router = router_for(runtime, clock=clock)
    for _ in range(3):
        await run(runtime, router)
    assert router.breakers.state("a/a1") is State.OPEN and a.calls == 3

    outcomes = await run(runtime, router)  # open: `a` is skipped without a call
    assert a.calls == 3 and trail(outcomes) == [("a/a1", "circuit_open"), ("b/b1", "ok")]
    assert router.breakers.snapshot() == {"a/a1": "open"}

    clock.advance(31)  # past open_seconds: one probe goes through, and it succeeds
    outcomes = await run(runtime, router)
    assert a.calls == 4 and trail(outcomes) == [("a/a1", "ok")]
    assert router.breakers.state("a/a1") is State.CLOSED


async def test_failed_probe_reopens() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(CircuitBreakerConfig(consecutive_failures=1, open_seconds=10), clock=clock)
    registry.record("d", healthy=False)
    assert registry.allow("d") is False
    clock.advance(10)
    assert registry.allow("d") is True  # the probe
    assert registry.allow("d") is False  # only one probe at a time
    registry.record("d", healthy=False)
    assert registry.state("d") is State.OPEN and registry.allow("d") is False


async def test_4xx_content_policy_and_429_do_not_open_the_breaker() -> None:
    for failure in ("rate_limited", "content_policy", "caller_fault", "credential", "quota"):
        a = FakeAdapter("a", [failure], retry_after=100.0)
        runtime = runtime_with(ROUTING, {"a": a, "b": FakeAdapter("b")})
        router = router_for(runtime)
        for _ in range(5):
            await run(runtime, router)
        assert router.breakers.state("a/a1") is State.CLOSED, failure
        assert a.calls == 5


def test_failure_rate_over_window_opens() -> None:
    clock = FakeClock()
    config = CircuitBreakerConfig(consecutive_failures=100, failure_rate=0.5, min_requests=10, window_seconds=30)
    registry = BreakerRegistry(config, clock=clock)
    for i in range(10):
        registry.record("d", healthy=i % 2 == 0)  # alternate: never 2 in a row, but 50 % failures
    assert registry.state("d") is State.OPEN


async def test_every_route_open_is_503_with_retry_after_until_the_probe() -> None:
    from gateway.merge import error_for

    clock = FakeClock()
    routing = ROUTING.replace("      - {provider: b, model: b1}\n", "")
    a = FakeAdapter("a", ["connect"])
    runtime = runtime_with(routing, {"a": a})
    router = router_for(runtime, clock=clock)
    for _ in range(3):
        await run(runtime, router)
    clock.advance(10)
    [outcome] = await run(runtime, router)
    error = error_for(outcome.failures)
    assert (error.status_code, error.code, error.retry_after) == (503, "service_unavailable", 20.0)


async def test_breaker_opened_by_this_request_reports_the_provider_failure_not_the_skip() -> None:
    routing = """
providers:
  a: {adapter: mock}
models:
  m:
    deployments: [{provider: a, model: a1}]
retry: {attempts: 3, backoff_base_seconds: 0.001}
circuit_breaker: {consecutive_failures: 1, open_seconds: 30, half_open_probes: 1}
"""
    a = FakeAdapter("a", ["transient"])
    runtime = runtime_with(routing, {"a": a})
    outcomes = await run(runtime, router_for(runtime, clock=FakeClock()))
    assert a.calls == 1  # the retry found the circuit open and made no call
    assert [f.failure.value for f in outcomes[0].failures] == ["transient"]
