"""Cost for the adapters added after the cost work: Google (Gemini image, Imagen), Stability, fal,
Replicate and the OpenAI-compatible profiles (xAI, OpenRouter), each at the price form its
provider publishes — `provider_metadata.cost`, `imagegate_cost_usd_total{model,provider}` and the
request log line — through the app, against the shared fakes. And an edit: priced and reserved
like a generation, every output counted."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.base import Fake
from tests.fakes.fal import FakeFal
from tests.fakes.google import FakeGoogle
from tests.fakes.openai import FakeOpenAI
from tests.fakes.replicate import FakeReplicate
from tests.fakes.stability import FakeStability
from tests.support.edit import data_url, picture

URL = "/api/v1/image/generate"
# Figures are test inputs, not published prices (the examples in deploy/ carry those, with sources).
ROUTING = """
providers:
  google: {adapter: google, settings: {api_key: g-SECRET-key}}
  stability: {adapter: stability, settings: {api_key: sk-SECRET-key}}
  fal: {adapter: fal, settings: {api_key: fal-SECRET-key, poll_interval_seconds: 0}}
  replicate: {adapter: replicate, settings: {api_key: r8-SECRET-key, poll_interval_seconds: 0}}
  xai: {adapter: openai, settings: {profile: xai, api_key: xai-SECRET-key}}
  openrouter: {adapter: openai, settings: {profile: openrouter, api_key: or-SECRET-key}}
  mock: {adapter: mock, settings: {max_n: 4}}
models:
  nano-banana:
    deployments: [{provider: google, model: gemini-2.5-flash-image, price: {per_image: "0.039"}}]
  imagen:
    deployments: [{provider: google, model: imagen-4.0-generate-001, price: {per_image: "0.04"}}]
  core:
    deployments: [{provider: stability, model: core, price: {per_image: "0.03"}}]
  flux-dev-fal:
    deployments: [{provider: fal, model: fal-ai/flux/dev, price: {per_megapixel: "0.025"}}]
  schnell:
    deployments: [{provider: replicate, model: black-forest-labs/flux-schnell, price: {per_image: "0.003"}}]
  schnell-timed:
    deployments:
      - provider: replicate
        model: black-forest-labs/flux-schnell
        price: {per_image: "0.003", provider_reported: {field: metrics.predict_time, usd_per_unit: "0.001"}}
  grok:
    deployments:
      - provider: xai
        model: grok-imagine-image
        price: {per_image: "0.07", provider_reported: {field: usage.cost_in_usd_ticks, usd_per_unit: "0.0000000001"}}
  openrouter:
    deployments:
      - provider: openrouter
        model: google/gemini-2.5-flash-image
        price: {per_image: "0.05", provider_reported: {field: usage.cost}}
  paint:
    deployments: [{provider: mock, model: m, price: {per_image: "0.004"}}]
auth: {enabled: false}
"""
BUDGETS = """
budgets:
  default: {allowance_usd: "0.01", period: day, prepaid: false}
"""


class Upstream:
    def __init__(self) -> None:
        self.google, self.stability, self.fal = FakeGoogle(), FakeStability(), FakeFal()
        self.replicate = FakeReplicate()
        self.xai = FakeOpenAI(usage={"cost_in_usd_ticks": 200_000_000})  # docs.x.ai: $0.02
        self.openrouter = FakeOpenAI(path="/images", usage={"cost": 0.0387, "prompt_tokens": 9})

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        fakes: dict[str, Fake] = {
            "generativelanguage.googleapis.com": self.google,
            "api.stability.ai": self.stability,
            "api.replicate.com": self.replicate,
            "replicate.delivery": self.replicate,
            "api.x.ai": self.xai,
            "openrouter.ai": self.openrouter,
        }
        fake = fakes.get(host, self.fal if "fal." in host else None)
        if fake is None:
            return httpx.Response(404)
        return fake.handle(request)


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(transport=httpx.MockTransport(Upstream().handle))
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await http.aclose()


async def _metric(client: AsyncTestClient, model: str, provider: str) -> float:  # type: ignore[type-arg]
    text = (await client.get("/metrics")).text
    prefix = f'imagegate_cost_usd_total{{model="{model}",provider="{provider}"}} '
    return next((float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


@pytest.mark.parametrize(
    ("model", "provider", "body", "usd", "basis", "calls"),
    [
        ("nano-banana", "google", {}, "0.039000", "table", 1),
        ("imagen", "google", {"n": 2}, "0.080000", "table", 1),  # sampleCount 2: one call, two images
        ("core", "stability", {"n": 2}, "0.060000", "table", 2),  # one image per call: fanned out
        # per megapixel at the size delivered (the fake's 64x48 = 0.003072 MP x 0.025, rounded up
        # to the micro-dollar), not the 4 MP an aspect-only request reserves
        ("flux-dev-fal", "fal", {"aspect_ratio": "4:3"}, "0.000077", "table", 1),
        ("schnell", "replicate", {"n": 2}, "0.006000", "table", 1),
        ("schnell-timed", "replicate", {}, "0.001050", "provider_reported", 1),  # metrics.predict_time 1.05 s
        ("grok", "xai", {}, "0.020000", "provider_reported", 1),  # 2e8 ticks of 1e-10 USD
        ("openrouter", "openrouter", {}, "0.038700", "provider_reported", 1),  # usage.cost in USD
    ],
)
async def test_cost_per_adapter(
    client: AsyncTestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
    model: str,
    provider: str,
    body: dict[str, object],
    usd: str,
    basis: str,
    calls: int,
) -> None:
    before = await _metric(client, model, provider)
    with caplog.at_level(logging.INFO, logger="imagegate.requests"):
        response = await client.post(URL, json={"model": model, "prompt": "a fox", **body})
    assert response.status_code == 200, response.text
    cost = response.json()["provider_metadata"]["cost"]
    assert (cost["usd"], cost["basis"]) == (usd, basis)
    assert [(c["provider"], c["outcome"]) for c in cost["calls"]] == [(provider, "ok")] * calls
    assert await _metric(client, model, provider) == pytest.approx(before + float(usd))
    lines = [r.getMessage() for r in caplog.records if r.name == "imagegate.requests"]
    assert len(lines) == 1 and f"model={model} outcome=ok" in lines[0]
    assert f"cost_usd={usd} basis={basis}" in lines[0]


@pytest.fixture
async def budgeted() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(transport=httpx.MockTransport(Upstream().handle))
    app = create_app(Settings(), config=parse_config(ROUTING + BUDGETS), http=http)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await http.aclose()


async def test_edit_is_priced_and_reserved_per_output(budgeted: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """An edit reserves n x the price before anything is sent (0.01 USD allows two 0.004 outputs,
    not three) and is charged for every output it returns."""
    edit = {"model": "paint", "prompt": "make it red", "images": [{"b64": data_url(picture((64, 64)))}]}
    refused = await budgeted.post("/api/v1/image/edit", json={**edit, "n": 3})
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "insufficient_balance"
    assert "0.012000 USD reserved" in refused.json()["error"]["message"]
    edited = await budgeted.post("/api/v1/image/edit", json={**edit, "n": 2})
    assert edited.status_code == 200, edited.text
    assert len(edited.json()["images"]) == 2
    cost = edited.json()["provider_metadata"]["cost"]
    assert (cost["usd"], cost["basis"]) == ("0.008000", "table")
    again = await budgeted.post("/api/v1/image/edit", json={**edit, "n": 1})  # 0.002 left of the day's 0.01
    assert again.status_code == 402
