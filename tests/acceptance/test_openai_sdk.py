"""The official `openai` Python package against a live `imagegate serve` (spec/openai-compat.md):
the bundled mock routing plus two operator API keys, one of them with a tiny account limit."""

from __future__ import annotations

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from tests.acceptance.conftest import LIMITED, NARROW, SECRET, Served

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


def client(served: Served, key: str = SECRET) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_generate_b64_json_n_and_size(openai_gateway: Served) -> None:
    raw = client(openai_gateway).images.with_raw_response.generate(
        model="mock", prompt="a lighthouse", n=2, size="320x192", quality="hd", response_format="b64_json"
    )
    result = raw.parse()
    assert raw.headers["x-provider"] == "mock" and raw.headers["x-request-id"]
    assert len(result.data) == 2 and result.size == "320x192" and result.quality == "hd"
    assert all(base64.b64decode(image.b64_json or "").startswith(PNG) for image in result.data)


def test_a_400_is_a_bad_request_error_with_our_message(openai_gateway: Served) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(openai_gateway).images.generate(model="mock", prompt="x", response_format="url")
    assert "storage" in caught.value.message
    assert caught.value.code == "invalid_request" and caught.value.param == "response_format"
    with pytest.raises(openai.BadRequestError, match="size"):
        client(openai_gateway).images.generate(model="mock", prompt="x", size="big")  # type: ignore[arg-type]


def test_an_invalid_key_is_an_authentication_error(openai_gateway: Served) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(openai_gateway, "igk_not-a-key").images.generate(model="mock", prompt="x")
    assert caught.value.code == "auth_invalid_key"


def test_the_account_limit_is_a_rate_limit_error(openai_gateway: Served) -> None:
    limited = client(openai_gateway, LIMITED)
    limited.images.generate(model="tiny-image", prompt="x", size="64x64")
    with pytest.raises(openai.RateLimitError) as caught:
        limited.images.generate(model="tiny-image", prompt="x", size="64x64")
    assert caught.value.code == "rate_limited"


def test_a_model_the_key_may_not_use_is_a_permission_error(openai_gateway: Served) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(openai_gateway, NARROW).images.generate(model="mock", prompt="x")
    assert caught.value.code == "model_not_allowed"


def test_open_webui_request(openai_gateway: Served) -> None:
    """What Open WebUI (engine `openai`) sends: POST {IMAGES_OPENAI_API_BASE_URL}/images/generations."""
    response = httpx.post(
        openai_gateway.url + "/v1/images/generations",
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        json={"model": "mock-image", "prompt": "a lighthouse", "n": 1, "size": "512x512", "response_format": "b64_json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["data"][0]["b64_json"]).startswith(PNG)


def test_models_list(openai_gateway: Served) -> None:
    ids = {model.id for model in client(openai_gateway).models.list()}
    assert {"mock-image", "mock"} <= ids


def test_stream_yields_partial_then_completed_events(openai_gateway: Served) -> None:
    stream = client(openai_gateway).images.generate(
        model="mock", prompt="a lighthouse", size="128x128", stream=True, partial_images=1
    )
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[-1] == "image_generation.completed" and kinds.count("image_generation.completed") == 1
    assert kinds.count("image_generation.partial_image") == 1  # the mock sends 2 previews; 1 asked
    completed = events[-1]
    assert completed.size == "128x128" and base64.b64decode(completed.b64_json).startswith(PNG)
    for event in events[:-1]:
        assert event.type == "image_generation.partial_image" and event.partial_image_index == 0


def test_stream_with_n_2_ends_after_the_second_completed(openai_gateway: Served) -> None:
    events = list(client(openai_gateway).images.generate(model="mock", prompt="x", n=2, size="64x64", stream=True))
    assert [event.type for event in events] == ["image_generation.completed"] * 2


def picture(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (20, 60, 200, 0) if mode == "RGBA" else (20, 60, 200)).save(out, format="PNG")
    return out.getvalue()


def test_edit_with_one_file(openai_gateway: Served) -> None:
    raw = client(openai_gateway).images.with_raw_response.edit(
        model="mock", prompt="add a moon", image=("base.png", picture((96, 64)), "image/png")
    )
    result = raw.parse()
    assert raw.headers["x-provider"] == "mock" and len(result.data) == 1
    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or "")))
    assert image.format == "PNG" and image.size == (96, 64)  # the edit keeps the base image's size


def test_edit_with_several_files_and_a_mask(openai_gateway: Served) -> None:
    result = client(openai_gateway).images.edit(
        model="mock",
        prompt="put them together",
        image=[("a.png", picture((64, 64)), "image/png"), ("b.png", picture((32, 32)), "image/png")],
        mask=("mask.png", picture((64, 64), "RGBA"), "image/png"),
        n=2,
        size="64x64",
    )
    assert len(result.data) == 2 and result.size == "64x64"
    assert all(base64.b64decode(image.b64_json or "").startswith(PNG) for image in result.data)


def test_edit_refusals_are_bad_request_errors_naming_the_part(openai_gateway: Served) -> None:
    edits = client(openai_gateway).images
    with pytest.raises(openai.BadRequestError) as caught:
        edits.edit(model="mock", prompt="x", image=[("a.png", picture((64, 64))), ("b.txt", b"not an image")])
    assert caught.value.param == "image[1]" and "not a PNG, JPEG or WebP" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        edits.edit(model="mock", prompt="x", image=("a.png", picture((64, 64))), mask=("m.png", picture((32, 32))))
    assert caught.value.param == "mask"


def test_edit_stream_yields_image_edit_events(openai_gateway: Served) -> None:
    events = list(
        client(openai_gateway).images.edit(
            model="mock", prompt="add a moon", image=("base.png", picture((64, 64))), stream=True, partial_images=1
        )
    )
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert base64.b64decode(events[-1].b64_json).startswith(PNG)
