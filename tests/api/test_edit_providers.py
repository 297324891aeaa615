"""POST /api/v1/image/edit routed to BFL, A1111 and ComfyUI (each behind its fake): what each
provider received, and the fallback from a deployment that cannot edit (a BFL text-to-image
model) or cannot take a mask (Kontext) to one that can."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.a1111 import FakeA1111
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy
from tests.support.edit import data_url, mask_png, picture

URL = "/api/v1/image/edit"
BASE = picture((96, 64), (20, 60, 200))
MASK = mask_png((96, 64), (0, 0, 48, 64))  # the left half is transparent: edit it
ROUTING = """
providers:
  bfl:
    adapter: flux
    settings: {api_key: bfl-SECRET, poll_interval_seconds: 0}
  sd:
    adapter: a1111
    settings: {base_url: "http://sd.local:7860"}
  comfy:
    adapter: comfyui
    settings: {base_url: "http://comfy.local:8188", poll_interval_seconds: 0}
models:
  kontext:
    deployments: [{provider: bfl, model: flux-kontext-pro}]
  fill:
    deployments: [{provider: bfl, model: flux-pro-1.0-fill}]
  sd-edit:
    deployments: [{provider: sd, model: v1-5-pruned-emaonly}]
  comfy-edit:
    deployments: [{provider: comfy, model: v1-5-pruned-emaonly.safetensors}]
  flux-pro:
    deployments:
      - {provider: bfl, model: flux-pro-1.1}
      - {provider: bfl, model: flux-kontext-max}
  masked:
    deployments:
      - {provider: bfl, model: flux-kontext-pro}
      - {provider: sd, model: v1-5-pruned-emaonly}
retry: {backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
auth:
  enabled: false
"""


class Fakes:
    """One MockTransport in front of the three fakes, routed by host."""

    def __init__(self) -> None:
        self.bfl, self.sd, self.comfy = FakeBFL(), FakeA1111(), FakeComfy()

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host.endswith("bfl.ai"):
            return self.bfl.handle(request)
        return (self.sd if host == "sd.local" else self.comfy).handle(request)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def client(fakes: Fakes) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(transport=httpx.MockTransport(fakes.handle))
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
    await http.aclose()


def body(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "prompt": "paint it", "images": [{"b64": data_url(BASE)}], "seed": 7, **extra}


def grey(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_white_is_edit(mask: Image.Image) -> None:
    """The left half (canonical alpha 0) white, the right half (opaque) black, one channel."""
    assert mask.mode == "L" and mask.size == (96, 64)
    assert mask.getpixel((10, 32)) == 255 and mask.getpixel((80, 32)) == 0


async def test_kontext_edit_gets_the_base_image_as_input_image(client: AsyncTestClient, fakes: Fakes) -> None:
    response = await client.post(URL, json=body("kontext", prompt_extend=True, watermark=True))
    assert response.status_code == 200, response.text
    payload = response.json()
    model, sent = fakes.bfl.bodies[0]
    assert model == "flux-kontext-pro" and base64.b64decode(sent["input_image"]) == BASE
    assert sent["prompt_upsampling"] is True and sent["seed"] == 7
    assert payload["input_images"] == [{"width": 96, "height": 64}] and len(payload["images"]) == 1
    assert "watermark: not supported by BFL; dropped" in payload["provider_metadata"]["warnings"]
    assert "SECRET" not in response.text


async def test_fill_gets_image_and_the_mask_as_white_is_inpaint(client: AsyncTestClient, fakes: Fakes) -> None:
    response = await client.post(URL, json=body("fill", mask={"b64": data_url(MASK)}))
    assert response.status_code == 200, response.text
    model, sent = fakes.bfl.bodies[0]
    assert model == "flux-pro-1.0-fill" and base64.b64decode(sent["image"]) == BASE
    assert_white_is_edit(grey(base64.b64decode(sent["mask"])))


async def test_a1111_gets_img2img_with_init_image_mask_and_strength(client: AsyncTestClient, fakes: Fakes) -> None:
    response = await client.post(URL, json=body("sd-edit", mask={"b64": data_url(MASK)}, strength=0.4, n=2))
    assert response.status_code == 200, response.text
    path, sent = fakes.sd.bodies[0]
    assert path == "/sdapi/v1/img2img" and fakes.sd.calls == 1
    assert [base64.b64decode(b) for b in sent["init_images"]] == [BASE]
    assert_white_is_edit(grey(base64.b64decode(sent["mask"])))
    assert sent["denoising_strength"] == 0.4 and sent["n_iter"] == 2 and (sent["width"], sent["height"]) == (96, 64)
    assert [image["seed"] for image in response.json()["images"]] == [7, 8]


async def test_comfyui_gets_the_uploaded_names_in_the_edit_workflow(client: AsyncTestClient, fakes: Fakes) -> None:
    response = await client.post(URL, json=body("comfy-edit", mask={"b64": data_url(MASK)}, output_type="data_url"))
    assert response.status_code == 200, response.text
    graph = fakes.comfy.prompts[0]["prompt"]
    assert fakes.comfy.uploaded[graph["10"]["inputs"]["image"]] == BASE
    assert graph["13"]["inputs"]["channel"] == "red"
    assert_white_is_edit(grey(fakes.comfy.uploaded[graph["13"]["inputs"]["image"]]))
    assert response.json()["images"][0]["seed"] == 7


async def test_a_text_to_image_deployment_is_skipped_for_one_that_edits(
    client: AsyncTestClient, fakes: Fakes
) -> None:
    response = await client.post(URL, json=body("flux-pro"))
    assert response.status_code == 200, response.text
    assert [model for model, _ in fakes.bfl.bodies] == ["flux-kontext-max"]
    warnings = response.json()["provider_metadata"]["warnings"]
    assert any("flux-pro-1.1" in w and "cannot edit" in w for w in warnings), warnings


async def test_a_mask_skips_kontext_for_a1111(client: AsyncTestClient, fakes: Fakes) -> None:
    response = await client.post(URL, json=body("masked", mask={"b64": data_url(MASK)}))
    assert response.status_code == 200, response.text
    assert fakes.bfl.calls == 0 and fakes.sd.calls == 1
    assert_white_is_edit(grey(base64.b64decode(fakes.sd.bodies[0][1]["mask"])))
    assert any("cannot take a mask" in w for w in response.json()["provider_metadata"]["warnings"])


async def test_a_moderated_edit_is_refused_as_content_policy(client: AsyncTestClient, fakes: Fakes) -> None:
    fakes.bfl.moderate_inputs = True
    response = await client.post(URL, json=body("kontext"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "content_policy_violation"


async def test_the_catalogue_shows_each_deployments_edit_capabilities(client: AsyncTestClient) -> None:
    response = await client.get("/api/v1/models")
    assert response.status_code == 200
    caps = {
        (model["id"], p["model"]): (p["capabilities"]["edit"], p["capabilities"]["max_input_images"], p["capabilities"]["edit_mask"])
        for model in response.json()["data"]
        for p in model["providers"]
    }
    assert caps[("kontext", "flux-kontext-pro")] == (True, 4, False)
    assert caps[("fill", "flux-pro-1.0-fill")] == (True, 1, True)
    assert caps[("flux-pro", "flux-pro-1.1")] == (False, 0, False)
    assert caps[("sd-edit", "v1-5-pruned-emaonly")] == (True, 1, True)
    assert caps[("comfy-edit", "v1-5-pruned-emaonly.safetensors")] == (True, 1, True)
