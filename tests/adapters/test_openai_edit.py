"""OpenAI edits: the exact multipart request /v1/images/edits receives (part names, file names and
content types), the per-model rules (GPT image: up to 16 images; dall-e-2: one square PNG < 4 MB;
dall-e-3: none), and fallback from a model that cannot edit, through the whole gateway."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_sse import aconnect_sse
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from adapters.openai_images import OpenAIAdapter
from adapters.openai_translate import encode_edit
from gateway.app import create_app
from gateway.canonical import ImageRequest, InputImage, OutputFormat
from gateway.config import parse_config
from gateway.errors import FailureClass, ProviderError
from gateway.settings import Settings
from tests.fakes.base import SECRET, ctx
from tests.fakes.openai import FakeOpenAI, Part, StreamingOpenAI
from tests.streaming.support import live_server
from tests.support.edit import data_url, mask_png, picture


def input_image(data: bytes) -> InputImage:
    with Image.open(io.BytesIO(data)) as image:
        return InputImage(
            data=data, media_type=Image.MIME[str(image.format)], width=image.width, height=image.height
        )


BASE = input_image(picture((96, 64)))
REFERENCE = input_image(picture((32, 32), fmt="JPEG"))
MASK = input_image(mask_png((96, 64), (0, 0, 10, 10)))
SQUARE = input_image(picture((64, 64)))


def edit_request(*images: InputImage, mask: InputImage | None = None, **extra: object) -> ImageRequest:
    return ImageRequest(model="m", prompt="add a hat", images=images, mask=mask, **extra)  # type: ignore[arg-type]


async def run_edit(fake: FakeOpenAI, req: ImageRequest, model: str) -> object:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = OpenAIAdapter(provider="openai", settings={"api_key": SECRET}, client=client)
        return await adapter.edit(req, ctx(model))


def shape(parts: list[Part]) -> list[tuple[str, str | None, str | None]]:
    return [(p.name, p.filename, p.content_type) for p in parts]


async def test_gpt_image_edit_sends_every_image_and_the_mask_as_typed_parts() -> None:
    fake = FakeOpenAI()
    req = edit_request(BASE, REFERENCE, mask=MASK, n=2, output_format=OutputFormat.WEBP, strength=0.4)
    result = await run_edit(fake, req, "gpt-image-1")
    (call,) = fake.edits
    request = fake.requests[-1]
    assert request.url == "https://api.openai.com/v1/images/edits"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert call.content_type.startswith("multipart/form-data; boundary=")
    assert shape(call.files) == [
        ("image[]", "image-0.png", "image/png"),
        ("image[]", "image-1.jpg", "image/jpeg"),
        ("mask", "mask.png", "image/png"),
    ]
    assert [p.data for p in call.files] == [BASE.data, REFERENCE.data, MASK.data]  # the bytes as sent to us
    assert call.fields == {
        "model": "gpt-image-1",
        "prompt": "add a hat",
        "n": "2",
        "size": "1536x1024",  # no size asked: the base image's 3:2, snapped to the model's sizes
        "output_format": "webp",
    }
    assert all(p.content_type is None for p in call.parts if p.filename is None)  # plain form fields
    assert len(result.images) == 2  # type: ignore[attr-defined]
    assert "strength: not supported by OpenAI image edits; dropped" in result.warnings  # type: ignore[attr-defined]


async def test_dall_e_2_gets_one_png_image_part_converted_from_jpeg() -> None:
    fake = FakeOpenAI()
    square_jpeg = input_image(picture((64, 64), fmt="JPEG"))
    result = await run_edit(
        fake, edit_request(square_jpeg, mask=input_image(mask_png((64, 64), (0, 0, 8, 8)))), "dall-e-2"
    )
    (call,) = fake.edits
    assert shape(call.files) == [("image", "image-0.png", "image/png"), ("mask", "mask.png", "image/png")]
    assert call.files[0].data.startswith(b"\x89PNG")
    assert call.fields["response_format"] == "b64_json" and call.fields["size"] == "256x256"
    assert "images[0]: converted to PNG for dall-e-2" in result.warnings  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("image", "says"),
    [
        (BASE, "image must be square"),  # 96x64
        (input_image(picture((64, 64)) + b"\x00" * (4 * 1024 * 1024)), "must be a PNG and less than 4 MB"),
    ],
)
async def test_dall_e_2_refuses_a_non_square_or_large_image(image: InputImage, says: str) -> None:
    fake = FakeOpenAI()
    with pytest.raises(ProviderError) as info:
        await run_edit(fake, edit_request(image), "dall-e-2")
    assert info.value.failure is FailureClass.CALLER_FAULT and info.value.status == 400
    assert says in info.value.message
    assert len(fake.edits) == 1  # the provider said so: the gateway does not guess its rules


def test_capabilities_per_model() -> None:
    adapter = OpenAIAdapter(provider="openai", settings={}, client=httpx.AsyncClient())
    caps = {m: adapter.capabilities(m) for m in ("gpt-image-1", "dall-e-2", "dall-e-3")}
    assert [(c.edit, c.max_input_images, c.edit_mask) for c in caps.values()] == [
        (True, 16, True),
        (True, 1, True),
        (False, 0, False),
    ]


def test_encode_edit_refuses_what_the_model_cannot_take() -> None:
    with pytest.raises(ProviderError, match="cannot edit"):
        encode_edit(edit_request(SQUARE), model="dall-e-3")
    with pytest.raises(ProviderError, match="at most 1 image"):
        encode_edit(edit_request(SQUARE, SQUARE), model="dall-e-2")
    fields, files, _ = encode_edit(edit_request(*[SQUARE] * 16), model="gpt-image-1")
    assert [name for name, _ in files] == ["image[]"] * 16 and fields["size"] == "1024x1024"


ROUTING = f"""
providers:
  openai:
    adapter: openai
    settings: {{api_key: {SECRET}}}
models:
  editor:
    deployments:
      - {{provider: openai, model: dall-e-3}}
      - {{provider: openai, model: gpt-image-1}}
  square-editor:
    deployments:
      - {{provider: openai, model: dall-e-2}}
auth:
  enabled: false
"""


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[AsyncTestClient[Litestar], FakeOpenAI]]:
    fake = FakeOpenAI()
    http = httpx.AsyncClient(transport=fake.transport())
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as client:
        yield client, fake
    await http.aclose()


async def test_gateway_falls_back_from_dall_e_3_to_gpt_image(
    gateway: tuple[AsyncTestClient[Litestar], FakeOpenAI],
) -> None:
    client, fake = gateway
    body = {"model": "editor", "prompt": "add a hat", "images": [{"b64": data_url(BASE.data)}]}
    body["mask"] = {"b64": data_url(MASK.data)}
    response = await client.post("/api/v1/image/edit", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["provider_metadata"]["warnings"][0] == "deployment openai/dall-e-3 skipped: cannot edit"
    assert [a["deployment"] for a in payload["provider_metadata"]["attempts"]] == ["openai/gpt-image-1"]
    assert payload["input_images"] == [{"width": 96, "height": 64}]
    assert [r.url.path for r in fake.requests] == ["/v1/images/edits"]
    image = base64.b64decode(payload["images"][0]["data_url"].split(",", 1)[1])
    assert image.startswith(b"\x89PNG")


async def test_gateway_reports_dall_e_2_square_rule_as_400(
    gateway: tuple[AsyncTestClient[Litestar], FakeOpenAI],
) -> None:
    client, _ = gateway
    body = {"model": "square-editor", "prompt": "add a hat", "images": [{"b64": data_url(BASE.data)}]}
    response = await client.post("/api/v1/image/edit", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "image must be square" in error["message"]
    assert SECRET not in response.text


async def test_nothing_reaches_openai_before_every_input_passed(
    gateway: tuple[AsyncTestClient[Litestar], FakeOpenAI],
) -> None:
    client, fake = gateway
    body = {
        "model": "editor",
        "prompt": "add a hat",
        "images": [{"b64": data_url(BASE.data)}, {"b64": data_url(b"not an image")}],
        "mask": {"b64": data_url(MASK.data)},
    }
    response = await client.post("/api/v1/image/edit", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "images[1]"
    assert fake.requests == []


async def test_streamed_edit_relays_openai_partial_images() -> None:
    """stream: true on a GPT image edit: the multipart call carries `stream` and `partial_images`,
    and OpenAI's `image_edit.partial_image` events arrive as `partial_image` events."""
    fake = StreamingOpenAI()
    routing = f"""
providers:
  openai: {{adapter: openai, settings: {{api_key: {SECRET}, partial_images: 2}}}}
models:
  gpt-image-1: {{deployments: [{{provider: openai, model: gpt-image-1}}]}}
auth: {{enabled: false}}
"""
    body = {
        "model": "gpt-image-1",
        "prompt": "add a hat",
        "stream": True,
        "images": [{"b64": data_url(BASE.data)}],
        "mask": {"b64": data_url(MASK.data)},
    }
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    async with (
        live_server(routing, http) as live,
        aconnect_sse(live.client, "POST", "/api/v1/image/edit", json=body) as source,
    ):
        events = [event async for event in source.aiter_sse()]
    names = [event.event for event in events]
    assert names.count("partial_image") == 2 and names[-2:] == ["image", "completed"]
    final = json.loads(events[-1].data)
    assert final["provider_metadata"]["raw"]["type"] == "image_edit.completed"
    assert final["input_images"] == [{"width": 96, "height": 64}]
    (call,) = fake.edits
    assert call.fields["stream"] == "true" and call.fields["partial_images"] == "2"
    assert shape(call.files) == [("image[]", "image-0.png", "image/png"), ("mask", "mask.png", "image/png")]
    assert fake.closed == 1
