"""POST /api/v1/image/generate against the mock provider: the contract's happy paths and errors."""

from __future__ import annotations

import base64
import io

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

URL = "/api/v1/image/generate"


def decode_data_url(data_url: str) -> tuple[str, bytes]:
    header, _, payload = data_url.partition(",")
    return header, base64.b64decode(payload)


async def test_two_webp_images_at_requested_size(client: AsyncTestClient) -> None:
    body = {
        "model": "mock",
        "prompt": "a lighthouse",
        "n": 2,
        "width": "640",
        "height": "384",
        "output_format": "webp",
    }
    response = await client.post(URL, json=body)
    assert response.status_code == 200
    payload = response.json()
    assert payload["status"] == "completed" and payload["error"] is None
    assert [image["index"] for image in payload["images"]] == [0, 1]
    for image in payload["images"]:
        header, data = decode_data_url(image["data_url"])
        assert header == "data:image/webp;base64"
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.format == "WEBP" and decoded.size == (640, 384)
        assert (image["width"], image["height"], image["format"]) == (640, 384, "webp")


async def test_images_of_one_request_differ(client: AsyncTestClient) -> None:
    response = await client.post(URL, json={"model": "mock", "prompt": "x", "n": 2, "seed": 7})
    first, second = (image["data_url"] for image in response.json()["images"])
    assert first != second


async def test_fixed_seed_is_reported_and_reproducible(client: AsyncTestClient) -> None:
    body = {"model": "mock", "prompt": "same", "seed": 42, "width": 64, "height": 64}
    one, two = (await client.post(URL, json=body)).json(), (await client.post(URL, json=body)).json()
    assert one["images"][0]["seed"] == 42
    assert one["images"][0]["data_url"] == two["images"][0]["data_url"]


async def test_file_output_returns_raw_bytes_with_headers(client: AsyncTestClient) -> None:
    body = {
        "model": "mock",
        "prompt": "a fox",
        "output_type": "file",
        "output_format": "jpeg",
        "seed": 5,
        "width": 128,
        "height": 96,
    }
    response = await client.post(URL, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-provider"] == "mock"
    assert response.headers["x-image-seed"] == "5"
    assert response.headers["x-request-id"]
    with Image.open(io.BytesIO(response.content)) as decoded:
        assert decoded.format == "JPEG" and decoded.size == (128, 96)


async def test_request_id_is_echoed_when_valid(client: AsyncTestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_id_is_replaced_when_invalid(client: AsyncTestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert response.headers["x-request-id"].startswith("req-")


async def test_response_id_matches_request_id_header(client: AsyncTestClient) -> None:
    response = await client.post(
        URL, json={"model": "mock", "prompt": "p"}, headers={"X-Request-Id": "trace-1"}
    )
    assert response.json()["id"] == "trace-1" == response.headers["x-request-id"]


async def test_unknown_route_gets_error_shape_and_request_id(client: AsyncTestClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"n": 11}, "n"),
        ({"n": 0}, "n"),
        ({"seed": -2}, "seed"),
        ({"seed": 2147483648}, "seed"),
        ({"quality": "ultra"}, "quality"),
        ({"colour": "red"}, "colour"),
        ({"output_type": "file", "n": 2}, "output_type"),
        ({"width": "63"}, "width"),
        ({"width": "8193"}, "width"),
        ({"height": 63}, "height"),
        ({"height": "12px"}, "height"),
        ({"aspect_ratio": "16x9"}, "aspect_ratio"),
        ({"guide_scale": 50.5}, "guide_scale"),
        ({"guide_scale": -0.1}, "guide_scale"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"lora_strength": 101}, "lora_strength"),
        ({"output_format": "gif"}, "output_format"),
        ({"resolution": "8K"}, "resolution"),
        ({"stream": "yes"}, "stream"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 32001}, "prompt"),
        ({"metadata": {"k": "v" * 5000}}, "metadata"),
        ({"stream": True, "output_type": "file"}, "stream"),
    ],
)
async def test_invalid_field_is_rejected_naming_it(
    client: AsyncTestClient, patch: dict[str, object], param: str
) -> None:
    body: dict[str, object] = {"model": "mock", "prompt": "a cat", **patch}
    response = await client.post(URL, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["param"] == param
    assert param in error["message"] or param == "prompt"


@pytest.mark.parametrize(
    ("patch"),
    [
        {"n": 10},
        {"n": 1},
        {"seed": -1},
        {"seed": 0},
        {"seed": 2147483647},
        {"width": "64", "height": "64"},
        {"width": 64, "height": 64},
        {"guide_scale": 0},
        {"guide_scale": 50},
        {"steps": 1},
        {"steps": 150},
        {"lora_strength": 0},
        {"lora_strength": 100},
        {"quality": "auto"},
        {"aspect_ratio": "16:9"},
        {"metadata": {"k": "v" * 4000}},
        {"resolution": "4K"},
    ],
)
async def test_boundary_values_are_accepted(client: AsyncTestClient, patch: dict[str, object]) -> None:
    body: dict[str, object] = {"model": "mock", "prompt": "a cat", "width": 64, "height": 64, **patch}
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text


async def test_missing_model_is_named(client: AsyncTestClient) -> None:
    response = await client.post(URL, json={"prompt": "a cat"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "model"


async def test_unknown_model_is_404(client: AsyncTestClient) -> None:
    response = await client.post(URL, json={"model": "nope", "prompt": "a cat"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


async def test_non_json_body_is_400(client: AsyncTestClient) -> None:
    response = await client.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


async def test_json_array_body_is_400(client: AsyncTestClient) -> None:
    response = await client.post(URL, content=b"[]", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


async def test_wrong_content_type_is_415(client: AsyncTestClient) -> None:
    response = await client.post(
        URL, content=b"model=mock", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"


async def test_two_mebibyte_body_is_413(client: AsyncTestClient) -> None:
    big = b'{"model":"mock","prompt":"' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(URL, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


async def test_fallback_to_second_deployment_is_recorded(client: AsyncTestClient) -> None:
    response = await client.post(
        URL, json={"model": "flaky-image", "prompt": "a cat", "width": 64, "height": 64}
    )
    assert response.status_code == 200
    attempts = response.json()["provider_metadata"]["attempts"]
    # a 503 is retried (retry.attempts: 3), then the chain falls back
    assert [(a["provider"], a["outcome"]) for a in attempts] == [("broken", "transient")] * 3 + [("mock", "ok")]


async def test_all_routes_failing_is_502(client: AsyncTestClient) -> None:
    response = await client.post(URL, json={"model": "dead-image", "prompt": "a cat"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"


async def test_fan_out_beyond_max_n_returns_all_images_indexed(client: AsyncTestClient) -> None:
    response = await client.post(
        URL, json={"model": "mock", "prompt": "a cat", "n": 6, "width": 64, "height": 64, "seed": 1}
    )
    payload = response.json()
    assert [image["index"] for image in payload["images"]] == list(range(6))
    assert [image["seed"] for image in payload["images"]] == [1, 2, 3, 4, 5, 6]
    assert len(payload["provider_metadata"]["raw"]["calls"]) == 2


async def test_single_call_raw_is_the_provider_body(client: AsyncTestClient) -> None:
    response = await client.post(URL, json={"model": "mock", "prompt": "a cat", "width": 64, "height": 64})
    raw = response.json()["provider_metadata"]["raw"]
    assert raw["model"] == "mock-v1" and "calls" not in raw
