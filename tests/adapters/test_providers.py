"""Provider-specific behaviour beyond the contract: OpenAI URL responses and fixtures, Azure-style
auth, A1111 basic auth and seeds, ComfyUI history polling and execution errors."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from adapters.local_diffusion import LocalDiffusionAdapter
from adapters.openai_images import OpenAIAdapter, _Item
from gateway.canonical import ImageRequest
from gateway.errors import FailureClass, ProviderError
from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import SECRET, ctx, fixture, fixture_headers, json_response
from tests.fakes.comfyui import FakeComfy
from tests.support.images import png

TINY = base64.b64decode(fixture("openai/generations_dall-e-2_n2_200.json")["data"][0]["b64_json"])


def serve(
    name: str, extra: dict[str, httpx.Response] | None = None
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        for host, response in (extra or {}).items():
            if request.url.host == host:
                return response
        return httpx.Response(200, json=fixture(name), headers=fixture_headers(name))

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize(
    ("name", "model", "count"),
    [
        ("openai/generations_dall-e-2_n2_200.json", "dall-e-2", 2),
        ("openai/generations_dall-e-3_b64_200.json", "dall-e-3", 1),
        ("openai/generations_gpt-image-1_200.json", "gpt-image-1", 1),
        ("openai/generations_gpt-image-1_n2_webp_200.json", "gpt-image-1", 2),
    ],
)
async def test_openai_decodes_recorded_bodies(name: str, model: str, count: int) -> None:
    transport, seen = serve(name)
    async with httpx.AsyncClient(transport=transport) as client:
        adapter = OpenAIAdapter(provider="openai", settings={"api_key": SECRET}, client=client)
        result = await adapter.generate(ImageRequest(model="m", prompt="fox", n=count), ctx(model))
    assert [i.image_bytes() for i in result.images] == [
        TINY
    ] * count  # the webp-labelled body is PNG: bytes kept as-is
    assert all(i.seed is None for i in result.images)
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert json.loads(seen[0].content)["model"] == model
    assert "iVBORw0KGgo" not in json.dumps(result.raw)
    if "usage" in fixture(name):
        assert result.raw["usage"] == fixture(name)["usage"]


async def test_openai_url_response_is_downloaded_without_the_key_and_redacted() -> None:
    name = "openai/generations_dall-e-3_url_200.json"
    image = png()
    transport, seen = serve(
        name, {"oaidalleapiprodscus.blob.core.windows.net": httpx.Response(200, content=image)}
    )
    async with httpx.AsyncClient(transport=transport) as client:
        adapter = OpenAIAdapter(provider="openai", settings={"api_key": SECRET}, client=client)
        result = await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("dall-e-3"))
    assert result.images[0].image_bytes() == image
    assert "authorization" not in seen[1].headers
    assert result.raw["data"][0]["url"].endswith("img-abc123.png?<redacted>")  # type: ignore[index]
    assert "sig=" not in json.dumps(result.raw)


async def test_openai_url_on_a_host_off_the_allow_list_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response({"created": 1, "data": [{"url": "https://169.254.169.254/latest/meta-data"}]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = OpenAIAdapter(provider="openai", settings={"api_key": SECRET}, client=client)
        with pytest.raises(ProviderError) as info:
            await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("dall-e-3"))
    assert info.value.failure is FailureClass.UPSTREAM_INVALID


async def test_openai_azure_style_deployment() -> None:
    transport, seen = serve("openai/generations_dall-e-3_b64_200.json")
    settings = {
        "base_url": "https://res.openai.azure.com/openai/deployments/dalle3",
        "api_key": SECRET,
        "auth_header": "api-key",
        "api_version": "2024-02-01",
    }
    async with httpx.AsyncClient(transport=transport) as client:
        adapter = OpenAIAdapter(provider="azure", settings=settings, client=client)
        await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("dall-e-3"))
    request = seen[0]
    assert (
        str(request.url)
        == "https://res.openai.azure.com/openai/deployments/dalle3/images/generations?api-version=2024-02-01"
    )
    assert request.headers["api-key"] == SECRET and "authorization" not in request.headers


async def test_a1111_basic_auth_and_seeds_from_info() -> None:
    fake = FakeA1111()
    settings = {"backend": "a1111", "base_url": "http://sd.local:7860", "username": "u", "password": "p"}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="sd", settings=settings, client=client)
        result = await adapter.generate(ImageRequest(model="m", prompt="fox", n=3, seed=100), ctx("sd15"))
    assert [i.seed for i in result.images] == [100, 101, 102]
    assert len({i.image_bytes() for i in result.images}) == 3
    assert fake.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


async def test_a1111_decodes_recorded_body() -> None:
    transport, _ = serve("a1111/txt2img_200.json")
    async with httpx.AsyncClient(transport=transport) as client:
        adapter = LocalDiffusionAdapter(provider="sd", settings={"backend": "a1111"}, client=client)
        result = await adapter.generate(ImageRequest(model="m", prompt="fox", n=2), ctx("sd15"))
    assert [i.seed for i in result.images] == [1234567890, 1234567891]
    assert result.raw["info"]["sd_model_name"] == "v1-5-pruned-emaonly"  # type: ignore[index]


async def test_comfy_waits_for_history_and_reports_the_drawn_seed() -> None:
    fake = FakeComfy(pending_polls=2)
    settings = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=settings, client=client)
        result = await adapter.generate(
            ImageRequest(model="m", prompt="fox", negative_prompt="blur"), ctx("sdxl.safetensors")
        )
    sent = fake.prompts[0]["prompt"]
    seed = sent["3"]["inputs"]["seed"]
    assert result.images[0].seed == seed and 0 <= seed < 2**31
    assert sent["7"]["inputs"]["text"] == "blur" and sent["4"]["inputs"]["ckpt_name"] == "sdxl.safetensors"
    assert fake.polls == 3
    view = fake.requests[-1]
    assert view.url.path == "/view" and view.url.params["filename"] == "gateway_00001_.png"
    assert "prompt" not in result.raw["history"]  # type: ignore[operator]


async def test_comfy_execution_error_is_transient() -> None:
    fake = FakeComfy(history="history_200_error.json")
    settings = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=settings, client=client)
        with pytest.raises(ProviderError) as info:
            await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd"))
    assert info.value.failure is FailureClass.TRANSIENT
    assert info.value.provider_code == "torch.OutOfMemoryError"


async def test_comfy_history_never_finishing_hits_the_deadline() -> None:
    fake = FakeComfy(pending_polls=10**9)
    settings = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.02}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=settings, client=client)
        with pytest.raises(ProviderError) as info:
            await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd", seconds=0.2))
    assert info.value.failure is FailureClass.DEADLINE and fake.calls == 1


async def test_openai_compatible_local_server_may_serve_its_own_urls_over_http() -> None:
    image = png()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/images/generations":
            body = json.loads(request.content)
            assert body["model"] == "stablediffusion" and body["response_format"] == "b64_json"
            assert body["size"] == "512x512"
            return json_response(
                {"created": 1, "data": [{"url": "http://localai:8080/generated-images/a.png"}]}
            )
        if str(request.url) == "http://localai:8080/generated-images/a.png":
            return httpx.Response(200, content=image)
        return httpx.Response(404)

    settings = {"base_url": "http://localai:8080/v1"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = OpenAIAdapter(provider="localai", settings=settings, client=client)
        result = await adapter.generate(
            ImageRequest(model="m", prompt="fox", width=512, height=512), ctx("stablediffusion")
        )
        assert result.images[0].data == image
        assert adapter.capabilities("stablediffusion").size_multiple == 8
        https_only = OpenAIAdapter(provider="oa", settings={"api_key": SECRET}, client=client)
        with pytest.raises(ProviderError):
            await https_only._image(_Item(url="http://localai:8080/generated-images/a.png"))


async def test_comfy_history_poll_failures_are_tolerated_then_raised() -> None:
    class Flaky(FakeComfy):
        failures = 0
        limit = 2

        def route(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/history/") and self.failures < self.limit:
                self.failures += 1
                if self.failures % 2:
                    raise httpx.ConnectError("restarting")
                return httpx.Response(502)
            return super().route(request)

    settings = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}
    async with httpx.AsyncClient(transport=Flaky().transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=settings, client=client)
        result = await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd"))
    assert result.images
    dead = Flaky()
    dead.limit = 100
    async with httpx.AsyncClient(transport=dead.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=settings, client=client)
        with pytest.raises(ProviderError) as info:
            await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd"))
    assert info.value.failure in (FailureClass.CONNECT, FailureClass.TRANSIENT)
    assert dead.failures == 4 and dead.calls == 1
