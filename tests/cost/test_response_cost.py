"""`provider_metadata.cost` per provider, fan-out across two providers, refusals, ambiguous timeouts,
the `/v1` usage, the metric and the request log line — through the app, against the shared fakes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.a1111 import FakeA1111
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy
from tests.fakes.openai import FakeOpenAI

URL = "/api/v1/image/generate"
ROUTING = """
providers:
  openai: {adapter: openai, settings: {api_key: sk-test-key-0123456789}}
  bfl: {adapter: flux, settings: {api_key: bfl-key, poll_interval_seconds: 0}}
  sd: {adapter: a1111, base_url: "http://sd.local:7860"}
  comfy: {adapter: comfyui, base_url: "http://comfy.local:8188", settings: {poll_interval_seconds: 0}}
  mock: {adapter: mock, settings: {max_n: 4}}
  refuses: {adapter: mock, settings: {failure_rate: 1.0, failure_class: content_policy}}
  slow: {adapter: mock, settings: {latency_ms: 5000}, timeouts: {attempt_seconds: 0.2}}
models:
  dalle:
    deployments:
      - {provider: openai, model: dall-e-3, price: {table: {1024x1024: {medium: "0.04", high: "0.08"}, 1792x1024: {medium: "0.08", high: "0.12"}}}}
  flux:
    deployments:
      - {provider: bfl, model: flux-pro-1.1, price: {per_megapixel: "0.06", provider_reported: {field: submit.cost, usd_per_unit: "0.01"}}}
  sd15:
    deployments: [{provider: sd, model: v1-5, price: {per_step: "0.0001"}}]
  comfy:
    deployments: [{provider: comfy, model: sd_xl_base_1.0.safetensors, price: {per_step: "0.0002", default_steps: 25}}]
  mock:
    deployments: [{provider: mock, model: m, price: {per_image: "0.003"}}]
  unpriced:
    deployments: [{provider: mock, model: m}]
  split:
    deployments:
      - {provider: openai, model: dall-e-3, price: {per_image: "0.04"}}
      - {provider: bfl, model: flux-pro-1.1, price: {per_image: "0.05", provider_reported: {field: submit.cost, usd_per_unit: "0.01"}}}
  refused:
    deployments: [{provider: refuses, model: m, price: {per_image: "0.04"}}]
  timeout:
    deployments:
      - {provider: slow, model: m, price: {per_image: "0.02"}}
      - {provider: mock, model: m, price: {per_image: "0.003"}}
fallback: {on_ambiguous: fallback}
auth: {enabled: false}
"""


class OpenAIOnce(FakeOpenAI):
    """The first generation succeeds; later ones get 401, so the second shard falls back to BFL."""

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/generations") and self.calls >= 1:
            return httpx.Response(401, json={"error": {"code": "invalid_api_key", "type": "invalid_request_error"}})
        return super().route(request)


class Upstream:
    def __init__(self) -> None:
        self.openai, self.bfl, self.sd, self.comfy = OpenAIOnce(), FakeBFL(), FakeA1111(), FakeComfy()

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "api.openai.com":
            return self.openai.handle(request)
        if host.endswith("bfl.ai"):
            return self.bfl.handle(request)
        if host == "comfy.local":
            return self.comfy.handle(request)
        return self.sd.handle(request)


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    upstream = Upstream()
    http = httpx.AsyncClient(transport=httpx.MockTransport(upstream.handle))
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await http.aclose()


async def _cost(client: AsyncTestClient, body: dict[str, object]) -> dict[str, object]:  # type: ignore[type-arg]
    response = await client.post(URL, json={"prompt": "a fox", **body})
    assert response.status_code == 200, response.text
    cost: dict[str, object] = response.json()["provider_metadata"]["cost"]
    return cost


@pytest.mark.parametrize(
    ("body", "usd", "basis"),
    [
        ({"model": "dalle", "width": 1792, "height": 1024, "quality": "high"}, "0.120000", "table"),
        ({"model": "dalle", "width": 1024, "height": 1024, "quality": "medium"}, "0.040000", "table"),
        ({"model": "flux"}, "0.040000", "provider_reported"),  # BFL's `cost: 4.0` credits
        ({"model": "sd15", "steps": 20}, "0.002000", "table"),
        ({"model": "comfy"}, "0.005000", "table"),  # default_steps
        ({"model": "mock", "n": 3}, "0.009000", "table"),
        ({"model": "unpriced"}, "0.000000", "none"),
    ],
)
async def test_cost_per_provider(client: AsyncTestClient, body: dict[str, object], usd: str, basis: str) -> None:  # type: ignore[type-arg]
    cost = await _cost(client, body)
    assert (cost["usd"], cost["basis"]) == (usd, basis)
    calls = cost["calls"]
    assert isinstance(calls, list) and len(calls) == 1 and calls[0]["usd"] == usd


async def test_fan_out_across_two_providers_sums_per_call(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    cost = await _cost(client, {"model": "split", "n": 2})
    by_provider = {(c["provider"], c["outcome"]): (c["usd"], c["basis"]) for c in cost["calls"]}  # type: ignore[attr-defined]
    assert by_provider == {
        ("openai", "ok"): ("0.040000", "table"),
        ("openai", "credential"): ("0.000000", "table"),  # refused by the provider: not billed
        ("bfl", "ok"): ("0.040000", "provider_reported"),
    }
    assert cost["usd"] == "0.080000" and cost["basis"] == "table"


async def test_file_output_says_its_cost_in_a_header(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "flux", "prompt": "a fox", "output_type": "file"})
    assert response.status_code == 200 and response.headers["x-cost-usd"] == "0.040000"


async def test_ambiguous_timeout_is_charged(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    cost = await _cost(client, {"model": "timeout", "n": 2})
    outcomes = [(c["provider"], c["outcome"], c["usd"]) for c in cost["calls"]]  # type: ignore[attr-defined]
    assert outcomes == [("slow", "ambiguous", "0.040000"), ("mock", "ok", "0.006000")]
    assert cost["usd"] == "0.046000"


async def test_refusal_costs_nothing_and_the_log_says_so(
    client: AsyncTestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="imagegate.requests"):
        response = await client.post(URL, json={"model": "refused", "prompt": "a fox"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "content_policy_violation"
    lines = [r.getMessage() for r in caplog.records if r.name == "imagegate.requests"]
    assert len(lines) == 1 and "model=refused" in lines[0] and "cost_usd=0.000000" in lines[0]


async def test_metric_log_and_v1_usage(client: AsyncTestClient, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[type-arg]
    before = await _metric(client, "flux", "bfl")
    with caplog.at_level(logging.INFO, logger="imagegate.requests"):
        response = await client.post("/v1/images/generations", json={"model": "flux", "prompt": "a fox"})
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["cost_usd"] == "0.040000"
    assert await _metric(client, "flux", "bfl") == pytest.approx(before + 0.04)
    line = next(r.getMessage() for r in caplog.records if r.name == "imagegate.requests")
    assert "model=flux outcome=ok images=1 cost_usd=0.040000 basis=provider_reported" in line


async def _metric(client: AsyncTestClient, model: str, provider: str) -> float:  # type: ignore[type-arg]
    text = (await client.get("/metrics")).text
    prefix = f'imagegate_cost_usd_total{{model="{model}",provider="{provider}"}} '
    return next((float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0)
