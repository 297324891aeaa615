"""The executor performs the job's operation, skipping deployments whose adapter lacks it; a
streamed request is planned once, in groups of the primary's images per streaming call."""

from __future__ import annotations

from gateway.canonical import ImageRequest
from gateway.errors import FailureClass
from gateway.routing.plan import plan_shards
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


class CannotGenerate(FakeAdapter):
    generate = None  # type: ignore[assignment]  # an adapter for another operation only


async def test_a_deployment_without_the_operation_is_skipped() -> None:
    a, b = CannotGenerate("a"), FakeAdapter("b")
    runtime = runtime_with(ROUTING, {"a": a, "b": b})
    outcomes = await run(runtime, router_for(runtime))
    assert trail(outcomes) == [("b/b1", "ok")]
    assert outcomes[0].result is not None and a.calls == 0


async def test_no_deployment_with_the_operation_is_model_unavailable() -> None:
    runtime = runtime_with(ROUTING, {"a": CannotGenerate("a"), "b": CannotGenerate("b")})
    outcomes = await run(runtime, router_for(runtime))
    assert outcomes[0].result is None and outcomes[0].error is not None
    assert outcomes[0].error.failure is FailureClass.MODEL_UNAVAILABLE
    assert outcomes[0].error.message == "no route of 'm' can generate"
    assert trail(outcomes) == []


def test_streamed_plan_groups_then_splits_in_image_order() -> None:
    req = ImageRequest(model="m", prompt="x", n=5, seed=10)
    shards = plan_shards(req, 2, group=3)  # groups 3 + 2, each split into calls of at most 2
    assert [(s.index, s.first_image, s.request.n, s.request.seed) for s in shards] == [
        (0, 0, 2, 10),
        (1, 2, 1, 12),
        (2, 3, 2, 13),
    ]
    assert plan_shards(req, 2, group=5) == plan_shards(req, 2)  # one group: the plain plan
