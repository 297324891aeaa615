"""Fan-out with per-shard fallback, and the merge: completed / partial, raw.calls, error mapping."""

from __future__ import annotations

import pytest

from gateway.canonical import ImageRequest
from gateway.errors import (
    ContentPolicyViolation,
    FailureClass,
    InvalidRequest,
    ProviderCapacity,
    ProviderError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from gateway.merge import error_for
from gateway.upstream.redaction import scrub
from tests.routing.helpers import FakeAdapter, merged, router_for, run, runtime_with

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
"""


def _fails_second_shard(req: ImageRequest) -> FailureClass | None:
    return FailureClass.TRANSIENT if req.seed == 3 else None  # shards: seeds 1 (n=2) and 3 (n=2)


async def test_shard_failing_on_primary_succeeds_on_fallback_completed() -> None:
    a = FakeAdapter("a", max_n=2, fail_when=_fails_second_shard)
    b = FakeAdapter("b", max_n=2)
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    outcomes = await run(runtime, router_for(runtime), n=4, seed=1)
    req = ImageRequest(model="m", prompt="a cat", n=4, seed=1)
    response, images = await merged("req-1", req, outcomes)
    assert response.status == "completed" and response.error is None
    assert [image.index for image in response.images] == [0, 1, 2, 3]
    assert [image.seed for image in response.images] == [1, 2, 3, 4]
    assert [image.provider for image in images] == ["a", "a", "b", "b"]
    calls = response.provider_metadata.raw["calls"]
    assert [call["provider"] for call in calls] == ["a", "b"]
    assert all("api_key" not in call for call in calls)  # scrubbed
    attempts = [(x.deployment, x.shard, x.outcome) for x in response.provider_metadata.attempts]
    assert sorted(attempts) == [("a/a1", 0, "ok"), ("a/a1", 1, "transient"), ("b/b1", 1, "ok")]


async def test_all_fallbacks_failing_for_one_shard_is_partial() -> None:
    a = FakeAdapter("a", max_n=2, fail_when=_fails_second_shard)
    b = FakeAdapter("b", max_n=2, fail_when=_fails_second_shard)
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    outcomes = await run(runtime, router_for(runtime), n=4, seed=1)
    response, _ = await merged("req-2", ImageRequest(model="m", prompt="a cat", n=4, seed=1), outcomes)
    assert response.status == "partial"
    assert [image.seed for image in response.images] == [1, 2]
    assert response.error is not None and response.error.code == "upstream_error"
    assert "2 of 4" in response.error.message


async def test_nothing_produced_raises_the_mapped_error() -> None:
    a, b = FakeAdapter("a", ["content_policy"]), FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    outcomes = await run(runtime, router_for(runtime))
    with pytest.raises(ContentPolicyViolation):
        await merged("req-3", ImageRequest(model="m", prompt="a cat"), outcomes)


def _e(failure: FailureClass, retry_after: float | None = None) -> ProviderError:
    return ProviderError("p", failure, "m", retry_after=retry_after)


@pytest.mark.parametrize(
    ("failures", "expected", "status"),
    [
        ([_e(FailureClass.TRANSIENT), _e(FailureClass.CONTENT_POLICY)], ContentPolicyViolation, 400),
        ([_e(FailureClass.CONNECT), _e(FailureClass.AMBIGUOUS)], UpstreamTimeout, 504),
        ([_e(FailureClass.TRANSIENT), _e(FailureClass.DEADLINE)], UpstreamTimeout, 504),
        ([_e(FailureClass.CALLER_FAULT), _e(FailureClass.QUOTA)], InvalidRequest, 400),
        ([_e(FailureClass.RATE_LIMITED, 7), _e(FailureClass.RATE_LIMITED, 3)], UpstreamRateLimited, 503),
        ([_e(FailureClass.CAPACITY)], ProviderCapacity, 503),
        ([_e(FailureClass.CIRCUIT_OPEN), _e(FailureClass.CIRCUIT_OPEN)], ServiceUnavailable, 503),
        ([_e(FailureClass.CREDENTIAL), _e(FailureClass.CIRCUIT_OPEN)], UpstreamError, 502),
        ([_e(FailureClass.UPSTREAM_INVALID)], UpstreamError, 502),
        ([], UpstreamError, 502),
    ],
)
def test_error_mapping(failures: list[ProviderError], expected: type, status: int) -> None:
    error = error_for(failures)
    assert type(error) is expected and error.status_code == status


def test_rate_limited_error_carries_the_shortest_retry_after() -> None:
    error = error_for([_e(FailureClass.RATE_LIMITED, 7), _e(FailureClass.RATE_LIMITED, 3)])
    assert error.retry_after == 3 and error.code == "upstream_rate_limited"


def test_scrub_drops_keys_and_signed_query_strings() -> None:
    raw = {
        "id": "x",
        "api_key": "sk-1",
        "headers": {"Authorization": "Bearer t", "x-request-id": "r"},
        "result": {"sample": "https://delivery.example/img.png?se=2025&sig=abc"},
        "usage": {"total_tokens": 5},
    }
    assert scrub(raw) == {
        "id": "x",
        "headers": {"x-request-id": "r"},
        "result": {"sample": "https://delivery.example/img.png"},
        "usage": {"total_tokens": 5},
    }


async def test_shards_fit_the_smallest_max_n_in_the_chain() -> None:
    a = FakeAdapter("a", ["transient"], max_n=4)
    b = FakeAdapter("b", max_n=1)  # e.g. dall-e-3 behind a model that does n=4 per call
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    outcomes = await run(runtime, router_for(runtime), n=3, seed=10)
    assert [o.shard.request.n for o in outcomes] == [1, 1, 1]
    assert all(o.deployment is not None and o.deployment.provider == "b" for o in outcomes)
    assert all(req.n <= 1 for req in b.requests)
