"""POST /api/v1/image/edit through the mock: the base image is used, the mask bounds the edit, the
chain skips deployments that cannot edit (and says so), every output type and `stream: true`."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from adapters.mock_edit import edit_colour
from gateway.app import create_app
from gateway.schemas import GenerateResponse
from gateway.settings import Settings
from tests.api.edit_routing import edit_config
from tests.support.edit import data_url, mask_png, picture

URL = "/api/v1/image/edit"
BLUE = (20, 60, 200)
BASE = picture((96, 64), BLUE)
MASK = mask_png((96, 64), (0, 0, 48, 64))  # the left half is transparent: edit it


@pytest.fixture
async def app_client() -> AsyncIterator[tuple[AsyncTestClient[Litestar], Litestar]]:
    app = create_app(Settings(), config=edit_config())
    async with AsyncTestClient(app=app) as client:
        yield client, app


def body(**extra: object) -> dict[str, object]:
    return {"model": "mock", "prompt": "paint it", "images": [{"b64": data_url(BASE)}], "seed": 7, **extra}


def decoded(data_url_text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url_text.partition(",")[2]))).convert("RGB")


def near(pixel: tuple[int, ...], colour: tuple[int, ...], slack: int = 3) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=False))


async def test_masked_edit_changes_only_the_transparent_area(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    response = await client.post(URL, json=body(mask={"b64": data_url(MASK)}))
    assert response.status_code == 200, response.text
    payload = msgspec.json.decode(response.content, type=GenerateResponse)
    assert payload.status == "completed"
    assert response.json()["input_images"] == [{"width": 96, "height": 64}]
    image = decoded(payload.images[0].data_url)
    assert image.size == (96, 64)  # no size asked: the base image's size
    assert near(image.getpixel((10, 32)), edit_colour("paint it", 7))  # inside the mask's hole
    assert near(image.getpixel((80, 32)), BLUE)  # outside: the base image, untouched
    assert payload.images[0].seed == 7


async def test_edit_without_mask_draws_a_band_over_the_base(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    response = await client.post(URL, json=body(width=192, height=128, output_format="webp", n=2))
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    assert len(images) == 2 and [i["seed"] for i in images] == [7, 8]
    first = decoded(images[0]["data_url"])
    assert first.size == (192, 128) and images[0]["format"] == "webp"
    assert near(first.getpixel((96, 64)), edit_colour("paint it", 7), slack=12)  # the band
    assert near(first.getpixel((96, 5)), BLUE, slack=12)  # the base above it
    assert response.json()["input_images"] == [{"width": 96, "height": 64}]


async def test_file_output_is_the_edited_image(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    response = await client.post(URL, json=body(output_type="file", output_format="jpeg"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg" and response.headers["x-image-seed"] == "7"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "JPEG" and image.size == (96, 64)


async def test_stream_uses_the_generate_grammar_and_completes_with_input_images(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    response = await client.post(URL, json=body(stream=True, mask={"b64": data_url(MASK)}))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block.startswith("id:")]
    names = [
        line.split(": ", 1)[1] for block in events for line in block.splitlines() if line.startswith("event:")
    ]
    assert names[0] == "progress" and names[-1] == "completed" and "image" in names
    final = next(b for b in events if "event: completed" in b)
    data = msgspec.json.decode(final.split("data: ", 1)[1])
    assert data["input_images"] == [{"width": 96, "height": 64}] and data["status"] == "completed"


async def test_fallback_skips_deployments_that_cannot_edit_and_says_so(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, app = app_client
    adapters = app.state.services.runtime.adapters
    two = [{"b64": data_url(BASE)}, {"b64": data_url(picture((40, 40), (250, 250, 0)))}]
    response = await client.post(URL, json=body(model="fallback-edit", images=two))
    assert response.status_code == 200, response.text
    meta = response.json()["provider_metadata"]
    assert meta["provider"] == "mock"
    assert "deployment noedit/mock-plain skipped: cannot edit" in meta["warnings"]
    assert (
        "deployment single/mock-single skipped: takes at most 1 input image(s), 2 given" in meta["warnings"]
    )
    assert [a["deployment"] for a in meta["attempts"]] == ["mock/mock-v1"]
    assert (adapters["noedit"].calls, adapters["single"].calls, adapters["mock"].edits) == (0, 0, 1)
    # The reference image is used: its thumbnail sits in the top-left corner.
    assert near(decoded(response.json()["images"][0]["data_url"]).getpixel((2, 2)), (250, 250, 0))


async def test_one_input_goes_to_the_first_deployment_that_takes_it(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, app = app_client
    response = await client.post(URL, json=body(model="fallback-edit"))
    meta = response.json()["provider_metadata"]
    assert meta["provider"] == "single" and meta["warnings"] == [
        "deployment noedit/mock-plain skipped: cannot edit"
    ]
    assert app.state.services.runtime.adapters["single"].edits == 1


async def test_mask_is_dropped_with_a_warning_only_where_the_route_allows(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    response = await client.post(URL, json=body(model="nomask-lenient", mask={"b64": data_url(MASK)}))
    assert response.status_code == 200, response.text
    assert (
        "mask: not supported by nomask/mock-nomask; dropped"
        in response.json()["provider_metadata"]["warnings"]
    )
    image = decoded(response.json()["images"][0]["data_url"])
    assert near(image.getpixel((80, 32)), edit_colour("paint it", 7))  # no mask: the band spans the width


async def test_generate_response_has_no_input_images(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    response = await client.post("/api/v1/image/generate", json={"model": "mock", "prompt": "x"})
    assert response.status_code == 200 and "input_images" not in response.json()


async def test_models_show_edit_capabilities(app_client: tuple[AsyncTestClient[Litestar], Litestar]) -> None:
    client, _ = app_client
    models = {m["id"]: m for m in (await client.get("/api/v1/models")).json()["data"]}
    caps = [p["capabilities"] for p in models["fallback-edit"]["providers"]]
    assert [(c["edit"], c["max_input_images"], c["edit_mask"]) for c in caps] == [
        (False, 0, False),
        (True, 1, True),
        (True, 16, True),
    ]
    nomask = models["nomask-image"]["providers"][0]["capabilities"]
    assert (nomask["edit"], nomask["edit_mask"]) == (True, False)


async def test_openapi_documents_the_edit_body(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    schema = (await client.get("/schema/openapi.json")).json()
    request = schema["components"]["schemas"]["EditRequest"]
    assert request["additionalProperties"] is False
    assert request["required"] == ["model", "prompt", "images"]
    assert request["properties"]["images"]["maxItems"] == 16 and request["properties"]["n"]["maximum"] == 6
    post = schema["paths"]["/api/v1/image/edit"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/EditRequest")
    assert "400" in post["responses"] and "413" in post["responses"]


FLUX_FIRST = """
providers:
  bfl:
    adapter: flux
    settings: {api_key: bfl-test-key}
  mock:
    adapter: mock
models:
  pro-then-mock:
    deployments:
      - {provider: bfl, model: flux-pro-1.1}
      - {provider: mock, model: mock-v1}
  pro-only:
    deployments:
      - {provider: bfl, model: flux-pro-1.1}
auth:
  enabled: false
"""


async def test_a_generation_only_provider_is_skipped_with_a_warning() -> None:
    """flux-pro-1.1 does not edit (no Kontext/Fill): skipped and named, never called."""
    from gateway.config import parse_config

    app = create_app(Settings(), config=parse_config(FLUX_FIRST))
    async with AsyncTestClient(app=app) as client:
        response = await client.post(URL, json=body(model="pro-then-mock"))
        assert response.status_code == 200, response.text
        meta = response.json()["provider_metadata"]
        assert meta["warnings"][0] == "deployment bfl/flux-pro-1.1 skipped: cannot edit"
        assert [a["deployment"] for a in meta["attempts"]] == ["mock/mock-v1"]
        refused = await client.post(URL, json=body(model="pro-only"))
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "model"
        models = {m["id"]: m for m in (await client.get("/api/v1/models")).json()["data"]}
        assert models["pro-only"]["providers"][0]["capabilities"]["edit"] is False


async def test_a_palette_png_mask_with_transparency_is_accepted(
    app_client: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _ = app_client
    palette = Image.new("P", (96, 64), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.paste(0, (0, 0, 48, 64))
    out = io.BytesIO()
    palette.save(out, format="PNG", transparency=0)
    response = await client.post(URL, json=body(mask={"b64": data_url(out.getvalue())}))
    assert response.status_code == 200, response.text
    image = decoded(response.json()["images"][0]["data_url"])
    assert near(image.getpixel((10, 32)), edit_colour("paint it", 7)) and near(image.getpixel((80, 32)), BLUE)
