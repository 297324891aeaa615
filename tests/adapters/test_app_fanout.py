"""n fan-out and the model catalogue through the real app, with each adapter behind a MockTransport."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.imaging import inspect
from gateway.settings import Settings
from tests.fakes.a1111 import FakeA1111
from tests.fakes.bfl import FakeBFL
from tests.fakes.openai import FakeOpenAI
from tests.support.images import png

URL = "/api/v1/image/generate"
ROUTING = """
providers:
  openai:
    adapter: openai
    settings: {api_key: sk-test-SECRET-key-0123456789}
  bfl:
    adapter: flux
    settings: {api_key: bfl-SECRET, poll_interval_seconds: 0}
  sd:
    adapter: local_diffusion
    settings: {backend: a1111, base_url: "http://sd.local:7860"}
models:
  dall-e-3:
    deployments: [{provider: openai, model: dall-e-3}]
  flux-pro:
    deployments: [{provider: bfl, model: flux-pro-1.1}]
  flux-ultra:
    deployments: [{provider: bfl, model: flux-pro-1.1-ultra}]
  sd15:
    deployments: [{provider: sd, model: v1-5-pruned-emaonly}]
auth:
  enabled: false
"""


class Router:
    """One MockTransport in front of every fake, routed by host."""

    def __init__(self) -> None:
        self.openai, self.bfl, self.sd = FakeOpenAI(), FakeBFL(), FakeA1111()

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "api.openai.com" or host.endswith("blob.core.windows.net"):
            return self.openai.handle(request)
        if host.endswith("bfl.ai"):
            return self.bfl.handle(request)
        return self.sd.handle(request)


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
async def client(router: Router) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(transport=httpx.MockTransport(router.handle))
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await http.aclose()


def _digest(image: dict[str, object]) -> str:
    payload = str(image["data_url"]).split(",", 1)[1]
    return hashlib.sha256(base64.b64decode(payload)).hexdigest()


async def test_dalle3_n4_makes_four_calls_with_distinct_images(
    client: AsyncTestClient, router: Router
) -> None:
    response = await client.post(URL, json={"model": "dall-e-3", "prompt": "a fox", "n": 4, "seed": 3})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert router.openai.calls == 4
    assert all(json.loads(r.content)["n"] == 1 for r in router.openai.requests)
    assert [image["index"] for image in payload["images"]] == [0, 1, 2, 3]
    assert len({_digest(image) for image in payload["images"]}) == 4
    assert all(image["seed"] is None for image in payload["images"])
    assert payload["status"] == "completed" and len(payload["provider_metadata"]["raw"]["calls"]) == 4
    assert any(w.startswith("seed:") for w in payload["provider_metadata"]["warnings"])
    assert "SECRET" not in response.text


async def test_a1111_n4_is_one_call_with_n_iter_4(client: AsyncTestClient, router: Router) -> None:
    body = {"model": "sd15", "prompt": "a fox", "n": 4, "seed": 10, "output_format": "jpeg"}
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert router.sd.calls == 1
    sent = json.loads(router.sd.requests[0].content)
    assert sent["n_iter"] == 4 and sent["batch_size"] == 1 and sent["seed"] == 10
    assert [image["index"] for image in payload["images"]] == [0, 1, 2, 3]
    assert [image["seed"] for image in payload["images"]] == [10, 11, 12, 13]
    assert {image["format"] for image in payload["images"]} == {"jpeg"}
    assert len({_digest(image) for image in payload["images"]}) == 4


async def test_flux_n2_is_two_tasks_with_consecutive_seeds(client: AsyncTestClient, router: Router) -> None:
    response = await client.post(
        URL, json={"model": "flux-pro", "prompt": "a fox", "n": 2, "seed": 50, "output_format": "webp"}
    )
    assert response.status_code == 200, response.text
    submits = [json.loads(r.content) for r in router.bfl.requests if r.method == "POST"]
    assert sorted(s["seed"] for s in submits) == [50, 51]
    assert all(s["output_format"] == "png" for s in submits)
    images = response.json()["images"]
    for image in images:
        data = base64.b64decode(image["data_url"].split(",", 1)[1])
        assert inspect(data).format.value == "webp" and image["format"] == "webp"


async def test_content_policy_from_bfl_is_a_400(client: AsyncTestClient, router: Router) -> None:
    router.bfl.terminal = "get_result_request_moderated.json"
    response = await client.post(URL, json={"model": "flux-pro", "prompt": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "content_policy_violation"


async def test_models_catalogue_shows_adapter_capabilities(client: AsyncTestClient) -> None:
    models = {m["id"]: m for m in (await client.get("/api/v1/models")).json()["data"]}
    dalle = models["dall-e-3"]["providers"][0]["capabilities"]
    assert dalle["max_n"] == 1 and dalle["sizes"] == ["1024x1024", "1792x1024", "1024x1792"]
    assert dalle["seed"] is False and dalle["negative_prompt"] is False and dalle["formats"] == ["png"]
    sd = models["sd15"]["providers"][0]["capabilities"]
    assert (
        sd["max_n"] == 10
        and sd["seed"] is True
        and sd["negative_prompt"] is True
        and sd["size_multiple"] == 8
    )
    ultra = models["flux-ultra"]["providers"][0]["capabilities"]
    assert ultra["aspect_ratios"][:2] == ["21:9", "16:9"] and ultra["sizes"] is None
    flux = models["flux-pro"]["providers"][0]["capabilities"]
    assert flux["size_multiple"] == 32 and flux["max_side"] == 1440 and flux["streaming"] is True


def _png_with_parameters() -> str:
    parameters = "a fox\nSteps: 20, Seed: 10, Model hash: 6ce0161689"
    return base64.b64encode(png((1, 2, 3), (64, 48), text={"parameters": parameters})).decode()


@pytest.mark.parametrize("embed", [False, True])
async def test_a1111_generation_parameters_are_stripped_unless_embedding(
    client: AsyncTestClient, router: Router, embed: bool
) -> None:
    router.sd._b64 = lambda i: _png_with_parameters()  # type: ignore[method-assign]
    body = {"model": "sd15", "prompt": "a fox", "embed_exif_metadata": embed}
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    image = response.json()["images"][0]
    data = base64.b64decode(image["data_url"].split(",", 1)[1])
    assert b"Model hash" not in data and b"parameters" not in data
    assert (image["width"], image["height"], image["format"]) == (64, 48, "png")
    from gateway.imaging import read_embedded_prompt

    assert read_embedded_prompt(data) == ("a fox" if embed else None)
