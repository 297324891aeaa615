"""Smaller mapping defects (issue 14 item 12), each against the protocol-faithful fakes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from adapters import local_common, openai_images
from adapters.a1111 import A1111Settings
from adapters.local_diffusion import LocalDiffusionAdapter
from gateway import cli
from gateway.app import create_app
from gateway.canonical import ImageRequest, OutputFormat, Quality
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import Failure, ctx
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy
from tests.fakes.openai import FakeOpenAI

URL = "/api/v1/image/generate"
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "routing.example.yaml"
ROUTING = """
providers:
  openai: {adapter: openai, settings: {api_key: sk-test-SECRET-key-0123456789}}
  bfl: {adapter: flux, settings: {api_key: bfl-SECRET, poll_interval_seconds: 0}}
  sd: {adapter: local_diffusion, settings: {backend: a1111, base_url: "http://sd.local:7860"}}
models:
  mixed:
    deployments: [{provider: openai, model: dall-e-3}, {provider: bfl, model: flux-pro-1.1}]
  sd15:
    deployments: [{provider: sd, model: v1-5-pruned-emaonly, options: {sampler_name: "No Such Sampler"}}]
auth:
  enabled: false
"""


class OpenAIOnce(FakeOpenAI):
    """Serves the first generation; later ones get 401 (a key revoked mid-request), so the other
    shard falls back to BFL."""

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/generations") and self.calls >= 1:
            return httpx.Response(
                401, json={"error": {"code": "invalid_api_key", "type": "invalid_request_error"}}
            )
        return super().route(request)


class Router:
    def __init__(self) -> None:
        self.openai, self.bfl = OpenAIOnce(), FakeBFL()
        self.sd = FakeA1111(
            Failure(
                status=404,
                body=json.dumps(
                    {
                        "error": "HTTPException",
                        "detail": "Sampler not found",
                        "body": "",
                        "errors": "404: Sampler not found",
                    }
                ).encode(),
            )
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "api.openai.com":
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


async def test_sampler_misconfiguration_is_a_502_not_the_clients_fault(
    client: AsyncTestClient,
    router: Router,  # type: ignore[type-arg]
) -> None:
    response = await client.post(URL, json={"model": "sd15", "prompt": "a fox"})
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_error"
    assert json.loads(router.sd.requests[0].content)["sampler_name"] == "No Such Sampler"


async def test_mixed_provider_answer_says_mixed(client: AsyncTestClient, router: Router) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "mixed", "prompt": "a fox", "n": 2})
    assert response.status_code == 200, response.text
    meta = response.json()["provider_metadata"]
    assert router.openai.calls == 1 and router.bfl.calls == 1
    assert meta["provider"] == "mixed" and meta["model"] == "mixed"
    assert len(meta["raw"]["calls"]) == 2


async def test_single_provider_answer_names_it(client: AsyncTestClient, router: Router) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "mixed", "prompt": "a fox"})
    assert response.status_code == 200, response.text
    assert response.json()["provider_metadata"]["provider"] == "openai"


@pytest.mark.parametrize("backend", ["a1111", "comfyui"])
async def test_local_quality_with_steps_is_warned(backend: str) -> None:
    fake = FakeA1111() if backend == "a1111" else FakeComfy()
    settings = {"backend": backend, "base_url": "http://sd.local:7860", "poll_interval_seconds": 0.0}
    req = ImageRequest(model="m", prompt="fox", steps=12, quality=Quality.HIGH)
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="sd", settings=settings, client=client)
        result = await adapter.generate(req, ctx("sd15"))
    assert any(w.startswith("quality: high ignored because steps is given") for w in result.warnings)


def test_local_quality_without_steps_is_a_preset_not_a_warning() -> None:
    warnings: list[str] = []
    fields = local_common.common_fields(
        ImageRequest(model="m", prompt="p", quality=Quality.HIGH),
        A1111Settings(),
        warnings,
    )
    assert fields["steps"] == 35 and warnings == []


def test_transparent_background_with_jpeg_is_not_forwarded() -> None:
    body, warnings = openai_images.encode_request(
        ImageRequest(model="m", prompt="p", output_format=OutputFormat.JPEG),
        model="gpt-image-1",
        family="gpt-image",
        options={"background": "transparent"},
    )
    assert "background" not in body and body["output_format"] == "jpeg"
    assert any(w.startswith("background: transparent") for w in warnings)
    body, _ = openai_images.encode_request(
        ImageRequest(model="m", prompt="p", output_format=OutputFormat.WEBP),
        model="gpt-image-1",
        family="gpt-image",
        options={"background": "transparent"},
    )
    assert body["background"] == "transparent"


def uncommented(text: str) -> str:
    """The example with its commented provider and model blocks switched on."""
    out, section = [], ""
    for line in text.splitlines():
        if re.match(r"^[a-z_]+:", line):
            section = line.split(":", 1)[0]
        if section in ("providers", "models") and line.startswith("  # "):
            line = "  " + line[4:]
        elif section in ("providers", "models") and line.rstrip() == "  #":
            line = ""
        out.append(line)
    return "\n".join(out) + "\n"


def test_every_commented_example_block_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-example")
    monkeypatch.setenv("BFL_API_KEY", "bfl-example")
    text = uncommented(EXAMPLE.read_text())
    config = parse_config(text)
    assert {"openai", "flux", "local_diffusion"} <= set(config.providers)
    assert {"flux-pro", "dall-e-3", "sdxl-local"} <= set(config.models)
    routing = tmp_path / "routing.yaml"
    routing.write_text(text)
    assert cli.main(["check-config", str(routing)]) == 0, capsys.readouterr().err
