"""Images that do not decode, through the real app and each download/base64 path (issue 14, item 1):
the attempt fails as UPSTREAM_INVALID, the next deployment is tried, and with none left the answer
is 502 `upstream_error` — never a 500, never a `completed` carrying a broken image."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import Failure
from tests.fakes.bfl import FakeBFL
from tests.fakes.openai import FakeOpenAI
from tests.support.images import corrupt_idat_png, truncated_png

URL = "/api/v1/image/generate"
ROUTING = """
providers:
  bfl: {adapter: flux, settings: {api_key: bfl-SECRET, poll_interval_seconds: 0}}
  sd: {adapter: local_diffusion, settings: {backend: a1111, base_url: "http://sd.local:7860"}}
  openai: {adapter: openai, settings: {api_key: sk-test-SECRET-key-0123456789}}
models:
  flux-then-openai:
    deployments: [{provider: bfl, model: flux-pro-1.1}, {provider: openai, model: dall-e-2}]
  sd-then-openai:
    deployments: [{provider: sd, model: v1-5-pruned-emaonly}, {provider: openai, model: dall-e-2}]
  flux-only: {deployments: [{provider: bfl, model: flux-pro-1.1}]}
  sd-only: {deployments: [{provider: sd, model: v1-5-pruned-emaonly}]}
auth: {enabled: false}
"""
BROKEN = {"truncated": truncated_png(), "corrupt-idat": corrupt_idat_png()}


class Hosts:
    def __init__(self, broken: bytes) -> None:
        self.bfl, self.sd = FakeBFL(Failure(image=broken)), FakeA1111(Failure(image=broken))
        self.openai = FakeOpenAI()

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host.endswith("bfl.ai"):
            return self.bfl.handle(request)
        return self.sd.handle(request) if host == "sd.local" else self.openai.handle(request)


@pytest.fixture(params=list(BROKEN), ids=list(BROKEN))
async def env(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Hosts, AsyncTestClient]]:  # type: ignore[type-arg]
    hosts = Hosts(BROKEN[request.param])
    http = httpx.AsyncClient(transport=httpx.MockTransport(hosts.handle))
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as client:
        yield hosts, client
    await http.aclose()


@pytest.mark.parametrize("first", ["flux", "sd"])
@pytest.mark.parametrize("output_format", ["png", "webp"])
async def test_a_broken_image_falls_back_to_the_next_deployment(
    env: tuple[Hosts, AsyncTestClient],
    first: str,
    output_format: str,  # type: ignore[type-arg]
) -> None:
    hosts, client = env
    body = {"model": f"{first}-then-openai", "prompt": "a fox", "output_format": output_format}
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["status"] == "completed" and payload["provider_metadata"]["provider"] == "openai"
    outcomes = [a["outcome"] for a in payload["provider_metadata"]["attempts"]]
    assert outcomes == ["upstream_invalid", "ok"]  # the broken call is not retried, nor counted ok
    assert (hosts.bfl.calls if first == "flux" else hosts.sd.calls) == 1 and hosts.openai.calls == 1


@pytest.mark.parametrize("model", ["flux-only", "sd-only"])
async def test_a_broken_image_with_no_fallback_is_502(
    env: tuple[Hosts, AsyncTestClient],
    model: str,  # type: ignore[type-arg]
) -> None:
    _, client = env
    response = await client.post(URL, json={"model": model, "prompt": "a fox", "output_format": "webp"})
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_error"
