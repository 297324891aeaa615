"""/v1 in process: field mapping, refusals, and OpenAI's error shape on /v1 routes only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.support.app import MOCK_ROUTING

URL = "/v1/images/generations"


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(Settings(), config=parse_config(MOCK_ROUTING))) as test_client:
        yield test_client


async def post(client: AsyncTestClient, body: dict[str, Any]) -> Any:  # type: ignore[type-arg]
    return await client.post(URL, json=body)


async def test_size_quality_and_dropped_fields(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await post(client, {"model": "mock", "prompt": "x", "size": "128x64", "quality": "standard",
                                   "background": "transparent", "output_format": "webp"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == "128x64" and body["output_format"] == "webp" and body["quality"] == "standard"
    assert set(body["data"][0]) == {"b64_json"}  # the gateway's facts are headers, not data
    assert "background" in response.headers["x-imagegate-warnings"]
    assert response.headers["x-provider"] == "mock" and response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "mock", "prompt": "x", "seed": 3}, 400, "seed"),  # unknown to OpenAI: refused
        ({"model": "mock", "prompt": "x", "size": "1024"}, 400, "size"),
        ({"model": "mock", "prompt": "x", "size": "32x32"}, 400, "size"),  # the canonical bound, named as OpenAI's field
        ({"model": "mock", "prompt": "x", "response_format": "url"}, 400, "response_format"),
        ({"prompt": "x"}, 400, "model"),
        ({"model": "nope", "prompt": "x"}, 404, None),
    ],
)
async def test_refusals_use_openai_error_shape(
    client: AsyncTestClient, body: dict[str, Any], status: int, param: str | None  # type: ignore[type-arg]
) -> None:
    response = await post(client, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param


async def test_canonical_routes_keep_their_error_shape(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/api/v1/image/generate", json={"model": "nope", "prompt": "x"})
    assert response.status_code == 404 and "type" not in response.json()["error"]


async def test_models_lists_slugs_and_aliases(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    ids = {entry["id"] for entry in body["data"]}
    assert {"mock-image", "mock", "flaky-image"} <= ids
    assert all(entry["owned_by"] == "imagegate" and entry["object"] == "model" for entry in body["data"])


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/v1/chat/completions", 404, "not_found"),
        ("GET", "/v1/images/variations", 404, "not_found"),
        ("GET", "/v1", 404, "not_found"),
        ("GET", "/v1/images/generations", 405, "method_not_allowed"),
        ("DELETE", "/v1/models", 405, "method_not_allowed"),
    ],
)
async def test_unknown_paths_and_wrong_methods_under_v1_use_openai_shape(
    client: AsyncTestClient, method: str, path: str, status: int, code: str  # type: ignore[type-arg]
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.json() == {
        "error": {"message": response.json()["error"]["message"], "type": "invalid_request_error", "param": None, "code": code}
    }
    outside = await client.request(method, "/api" + path.removeprefix("/v1") + "-nope")
    assert "type" not in outside.json()["error"]  # the canonical shape outside /v1
