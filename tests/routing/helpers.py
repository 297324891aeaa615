"""Small in-test doubles for the router: scripted fake adapters, a fake clock, a recording sleep."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import ClassVar

from adapters.mock import render
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProviderImage,
    ProviderResult,
)
from gateway.config import parse_config
from gateway.errors import FailureClass, ProviderError
from gateway.generation import FinishedImage, finish
from gateway.responders import generate_response
from gateway.routing.executor import Router, ShardOutcome, execute
from gateway.runtime import Runtime
from gateway.schemas import GenerateResponse

Step = FailureClass | str  # a failure class, or "ok"


class FakeAdapter:
    """Answers from a script (one step per call; the last step repeats), or from `fail_when`."""

    kind: ClassVar[str] = "fake"

    def __init__(
        self,
        provider: str,
        script: list[Step] | None = None,
        *,
        max_n: int = 4,
        delay: float = 0.0,
        retry_after: float | None = None,
        fail_when: Callable[[ImageRequest], FailureClass | None] | None = None,
    ) -> None:
        self.provider = provider
        self.script = script or ["ok"]
        self.max_n = max_n
        self.delay = delay
        self.retry_after = retry_after
        self.fail_when = fail_when
        self.calls = 0
        self.cancelled = 0
        self.requests: list[ImageRequest] = []

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities(max_n=self.max_n, supports_seed=True)

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        self.calls += 1
        self.requests.append(req)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        step = self.script[min(self.calls, len(self.script)) - 1]
        failure = self.fail_when(req) if self.fail_when else None
        if failure is None and step != "ok":
            failure = FailureClass(step)
        if failure is not None:
            raise ProviderError(self.provider, failure, f"fake {failure.value}", retry_after=self.retry_after)
        seed = req.seed or 0
        images = [ProviderImage(data=render(req.prompt, seed + i, 32, 32, OutputFormat.PNG), seed=seed + i) for i in range(req.n)]
        return ProviderResult(images=images, raw={"provider": self.provider, "call": self.calls, "api_key": "sk-secret"})

    async def aclose(self) -> None:
        return None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Records retry waits instead of sleeping (yields to the loop once)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def runtime_with(yaml_text: str, adapters: dict[str, FakeAdapter]) -> Runtime:
    """A runtime from a routing YAML whose providers (declared with `adapter: mock`) are replaced by fakes."""
    config = parse_config(yaml_text)
    return Runtime(config=config, adapters=dict(adapters))


def router_for(
    runtime: Runtime, *, seed: int = 7, clock: FakeClock | None = None, sleep: RecordingSleep | None = None
) -> Router:
    return Router.local(runtime.config, rng=random.Random(seed), clock=clock or FakeClock(), sleep=sleep or RecordingSleep())


async def run(
    runtime: Runtime, router: Router, *, model: str = "m", n: int = 1, seed: int | None = 1, deadline: float = 60.0
) -> list[ShardOutcome]:
    req = ImageRequest(model=model, prompt="a cat", n=n, seed=seed)
    return await execute(
        runtime, req, slug=model, request_id="req-test", deadline=time.monotonic() + deadline, router=router
    )


def trail(outcomes: list[ShardOutcome]) -> list[tuple[str, str]]:
    return [(a.deployment, a.outcome) for o in outcomes for a in o.attempts]



async def merged(
    request_id: str, req: ImageRequest, outcomes: list[ShardOutcome]
) -> tuple[GenerateResponse, list[FinishedImage]]:
    """The merge as the JSON endpoint answers it: the neutral Result encoded by the responder."""
    result = await finish(request_id, req, outcomes)
    return generate_response(result), result.images
