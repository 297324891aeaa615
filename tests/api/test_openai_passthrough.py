"""/v1 fields with no canonical meaning (`background`, `output_compression`, and `moderation`, which
maps to `safe_mode`) reach an OpenAI GPT-image deployment's request body; a non-OpenAI provider that
made the images is named in `X-Imagegate-Warnings` for each such field it dropped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.openai import FakeOpenAI
from tests.support.edit import picture

URL = "/v1/images/generations"
ROUTING = """
providers:
  openai: {adapter: openai, settings: {api_key: sk-test-SECRET-key-0123456789}}
  mock: {adapter: mock}
models:
  gpt-image-1: {deployments: [{provider: openai, model: gpt-image-1}]}
  dall-e-3: {deployments: [{provider: openai, model: dall-e-3}]}
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
auth: {enabled: false}
"""
FIELDS = {"background": "transparent", "output_compression": 70, "moderation": "low", "output_format": "webp"}


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await http.aclose()


async def test_gpt_image_receives_the_openai_only_fields(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "gpt-image-1", "prompt": "a fox", **FIELDS})
    assert response.status_code == 200, response.text
    sent = json.loads(fake.requests[0].content)
    assert (sent["background"], sent["output_compression"], sent["moderation"]) == ("transparent", 70, "low")
    assert "x-imagegate-warnings" not in response.headers


async def test_dall_e_3_says_what_it_dropped(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "dall-e-3", "prompt": "a fox", **FIELDS})
    assert response.status_code == 200, response.text
    sent = json.loads(fake.requests[0].content)
    assert "background" not in sent and "output_compression" not in sent
    assert "apply to GPT image models only" in response.headers["x-imagegate-warnings"]


async def test_another_provider_is_named_for_each_dropped_field(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "mock-image", "prompt": "a fox", **FIELDS})
    assert response.status_code == 200, response.text
    warnings = response.headers["x-imagegate-warnings"]
    assert "background: passed only to OpenAI deployments; dropped by mock" in warnings
    assert "output_compression: passed only to OpenAI deployments; dropped by mock" in warnings
    quiet = await client.post(URL, json={"model": "mock-image", "prompt": "x", "background": "auto"})
    assert "background" not in quiet.headers.get("x-imagegate-warnings", "")  # the default asks nothing


async def test_an_openai_edit_receives_input_fidelity_and_background(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    files = [("image[]", ("a.png", picture((64, 64)), "image/png")), ("image[]", ("b.png", picture((64, 64)), "image/png"))]
    data = {"model": "gpt-image-1", "prompt": "combine", "input_fidelity": "high", "background": "opaque"}
    response = await client.post("/v1/images/edits", files=files, data=data)
    assert response.status_code == 200, response.text
    sent = fake.edits[0]
    assert sent.fields["input_fidelity"] == "high" and sent.fields["background"] == "opaque"
    assert [part.name for part in sent.files] == ["image[]", "image[]"]
