"""Fallback into and out of each provider added by the provider-breadth work: through the executor,
a failing deployment of the new provider hands its shard to OpenAI, and a failing OpenAI deployment
hands it to the new provider (each behind its own fake)."""

from __future__ import annotations

import httpx
import pytest

from adapters.registry import build_adapter
from tests.adapters.fakes import CASES, AdapterCase
from tests.fakes.base import SECRET, Failure, Fake
from tests.fakes.openai import FakeOpenAI
from tests.routing.helpers import router_for, runtime_with
from tests.routing.helpers import run as run_routed

NEW = [c for c in CASES if c.name in ("google", "google-imagen", "stability", "stability-json", "fal", "replicate")]
YAML = (
    "providers: {first: {adapter: mock}, second: {adapter: mock}}\n"
    "models: {m: {deployments: [{provider: first, model: FIRST}, {provider: second, model: SECOND}]}}\n"
    "retry: {attempts: 1}\nauth: {enabled: false}\n"
)
DOWN = Failure(status=503, body=b"{}")


async def _chain(first: tuple[AdapterCase, Fake], second: tuple[AdapterCase, Fake]) -> list[str]:
    clients = [httpx.AsyncClient(transport=fake.transport()) for _, fake in (first, second)]
    adapters = {
        name: build_adapter(case.kind, provider=name, settings=case.settings, client=client)
        for name, (case, _), client in zip(("first", "second"), (first, second), clients, strict=True)
    }
    yaml_text = YAML.replace("FIRST", first[0].model).replace("SECOND", second[0].model)
    runtime = runtime_with(yaml_text, adapters)  # type: ignore[arg-type]
    try:
        (outcome,) = await run_routed(runtime, router_for(runtime))
    finally:
        for client in clients:
            await client.aclose()
    assert outcome.error is None and outcome.result is not None and outcome.result.images
    return [a.deployment for a in outcome.attempts]


OPENAI = AdapterCase("openai", "openai", "dall-e-2", {"api_key": SECRET}, FakeOpenAI)


@pytest.mark.parametrize("case", NEW, ids=[c.name for c in NEW])
async def test_a_failing_new_provider_falls_back_to_openai(case: AdapterCase) -> None:
    new, openai = case.fake(DOWN), FakeOpenAI()
    attempts = await _chain((case, new), (OPENAI, openai))
    assert len(attempts) == 2 and openai.calls == 1


@pytest.mark.parametrize("case", NEW, ids=[c.name for c in NEW])
async def test_a_failing_openai_falls_back_to_the_new_provider(case: AdapterCase) -> None:
    new, openai = case.fake(None), FakeOpenAI(DOWN)
    attempts = await _chain((OPENAI, openai), (case, new))
    assert len(attempts) == 2 and new.calls == 1
