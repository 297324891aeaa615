"""Issue 14 item 7: a 200 with fewer images than asked. The missing images become a shard of their
own that goes on down the chain (spec/routing-policy.md); `partial` only once the chain is spent."""

from __future__ import annotations

from gateway.canonical import CallContext, ImageRequest, ProviderResult
from gateway.errors import FailureClass
from tests.routing.helpers import FakeAdapter, merged, router_for, run, runtime_with

ROUTING = """
providers:
  a: {adapter: mock}
  b: {adapter: mock}
  c: {adapter: mock}
models:
  m:
    deployments:
      - {provider: a, model: a1}
      - {provider: b, model: b1}
      - {provider: c, model: c1}
  alone: {deployments: [{provider: a, model: a1}]}
retry: {attempts: 1}
"""
REQ = ImageRequest(model="m", prompt="a cat", n=4, seed=1)


class Short(FakeAdapter):
    """Answers 200 with at most `gives` images, whatever was asked."""

    def __init__(self, provider: str, gives: int, **kwargs: object) -> None:
        super().__init__(provider, **kwargs)  # type: ignore[arg-type]
        self.gives = gives

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        result = await super().generate(req, ctx)
        return ProviderResult(images=result.images[: self.gives], raw=result.raw)


async def test_missing_images_are_asked_of_the_next_deployment() -> None:
    a, b, c = Short("a", gives=2), FakeAdapter("b"), FakeAdapter("c")
    runtime = runtime_with(ROUTING, {"a": a, "b": b, "c": c})
    outcomes = await run(runtime, router_for(runtime), n=4, seed=1)
    response, images = await merged("req-1", REQ, outcomes)
    assert [(r.n, r.seed) for r in a.requests] == [(4, 1)]  # never asked again (no retry of a)
    assert [(r.n, r.seed) for r in b.requests] == [(2, 3)]  # the two missing images, their seeds
    assert c.calls == 0
    assert response.status == "completed" and response.error is None
    assert [image.seed for image in response.images] == [1, 2, 3, 4]
    assert [image.provider for image in images] == ["a", "a", "b", "b"]
    attempts = [(x.deployment, x.shard, x.outcome) for x in response.provider_metadata.attempts]
    assert attempts == [("a/a1", 0, "ok"), ("b/b1", 1, "ok")]


async def test_a_short_remainder_goes_further_down_the_chain() -> None:
    a, b, c = Short("a", gives=2), Short("b", gives=1), FakeAdapter("c")
    runtime = runtime_with(ROUTING, {"a": a, "b": b, "c": c})
    outcomes = await run(runtime, router_for(runtime), n=4, seed=1)
    response, _ = await merged("req-1", REQ, outcomes)
    assert [(r.n, r.seed) for r in c.requests] == [(1, 4)]
    assert response.status == "completed" and [image.seed for image in response.images] == [1, 2, 3, 4]
    assert [x.shard for x in response.provider_metadata.attempts] == [0, 1, 2]


async def test_partial_only_once_the_chain_is_spent_for_the_missing_images() -> None:
    a, b = Short("a", gives=2), FakeAdapter("b", ["transient"])
    c = FakeAdapter("c", ["upstream_invalid"])
    runtime = runtime_with(ROUTING, {"a": a, "b": b, "c": c})
    outcomes = await run(runtime, router_for(runtime), n=4, seed=1)
    response, _ = await merged("req-1", REQ, outcomes)
    assert (a.calls, b.calls, c.calls) == (1, 1, 1)
    assert response.status == "partial" and len(response.images) == 2
    assert response.error is not None and response.error.code == "upstream_error"
    assert response.error.message.startswith("2 of 4 images failed")
    outcomes_of = [(x.deployment, x.outcome) for x in response.provider_metadata.attempts]
    assert outcomes_of == [("a/a1", "ok"), ("b/b1", "transient"), ("c/c1", FailureClass.UPSTREAM_INVALID.value)]


async def test_the_last_deployment_answering_short_ends_partial() -> None:
    a = Short("a", gives=3)
    runtime = runtime_with(ROUTING, {"a": a, "b": FakeAdapter("b"), "c": FakeAdapter("c")})
    outcomes = await run(runtime, router_for(runtime), model="alone", n=4, seed=1)
    response, _ = await merged("req-1", ImageRequest(model="alone", prompt="a cat", n=4, seed=1), outcomes)
    assert a.calls == 1 and response.status == "partial" and len(response.images) == 3
    assert response.error is not None and response.error.code == "upstream_error"
    assert response.error.message.startswith("1 of 4 images failed")
