"""`output_type: url` (and OpenAI's `response_format: url`) end to end: links that serve the image,
a clear 400 without storage, and a failed upload that is a failed image, never a dead link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.canonical import OutputFormat
from gateway.config import parse_config
from gateway.settings import Settings
from gateway.storage import LocalStorage, StorageError
from tests.storage.test_local import storage_yaml
from tests.support.app import MOCK_ROUTING

URL = "/api/v1/image/generate"


class FlakyStorage(LocalStorage):
    """The local backend, failing the puts whose 1-based number is in `fail`."""

    def __init__(self, inner: LocalStorage, fail: set[int]) -> None:
        super().__init__(
            inner.directory, inner._secret, url_ttl_seconds=inner.url_ttl_seconds,
            retention_seconds=inner.retention_seconds,
        )  # fmt: skip
        self.fail, self.puts = fail, 0

    async def put(self, data: bytes, fmt: OutputFormat) -> str:
        self.puts += 1
        if self.puts in self.fail:
            raise StorageError("disk full")
        return await super().put(data, fmt)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(Settings(), config=parse_config(MOCK_ROUTING + storage_yaml(tmp_path)))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def fetch(client: AsyncTestClient, url: str) -> bytes:  # type: ignore[type-arg]
    parts = urlsplit(url)
    response = await client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    return response.content


async def test_url_images_are_links_that_serve_the_image(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(URL, json={"model": "mock", "prompt": "x", "n": 2, "output_type": "url"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and [i["index"] for i in body["images"]] == [0, 1]
    for image in body["images"]:
        assert "data_url" not in image and image["url"].startswith("http://testserver.local/api/v1/files/")
        data = await fetch(client, image["url"])
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    plain = (await client.post(URL, json={"model": "mock", "prompt": "x"})).json()
    assert "url" not in plain["images"][0] and plain["images"][0]["data_url"].startswith("data:image/png")


async def test_openai_response_format_url(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/v1/images/generations", json={"model": "mock", "prompt": "x", "response_format": "url"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data[0]) == {"url"} and (await fetch(client, data[0]["url"]))[:4] == b"\x89PNG"


async def test_without_storage_url_is_a_clear_400() -> None:
    async with AsyncTestClient(app=create_app(Settings(), config=parse_config(MOCK_ROUTING))) as client:
        refused = await client.post(URL, json={"model": "mock", "prompt": "x", "output_type": "url"})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["param"] == "output_type" and "storage" in error["message"]
        openai = await client.post("/v1/images/generations", json={"model": "mock", "prompt": "x", "response_format": "url"})
        assert openai.status_code == 400 and openai.json()["error"]["param"] == "response_format"


async def test_stream_with_url_is_refused(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    refused = await client.post(URL, json={"model": "mock", "prompt": "x", "output_type": "url", "stream": True})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "stream"


def flaky(client: AsyncTestClient, fail: set[int]) -> FlakyStorage:  # type: ignore[type-arg]
    services = client.app.state.services
    wrapper = FlakyStorage(services.storage, fail)
    services.storage = wrapper
    return wrapper


async def test_a_failed_upload_is_retried_once(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    storage = flaky(client, {1})
    body = (await client.post(URL, json={"model": "mock", "prompt": "x", "output_type": "url"})).json()
    assert body["status"] == "completed" and storage.puts == 2
    await fetch(client, body["images"][0]["url"])


async def test_an_image_that_cannot_be_stored_is_a_failed_image(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    flaky(client, {1, 2})  # the first image's upload and its retry (uploads start in image order)
    response = await client.post(URL, json={"model": "mock", "prompt": "x", "n": 2, "output_type": "url"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial" and len(body["images"]) == 1 and body["images"][0]["index"] == 0
    assert body["error"]["code"] == "storage_error" and "1 of 2" in body["error"]["message"]
    await fetch(client, body["images"][0]["url"])  # the link that is returned works


async def test_no_image_stored_is_502_storage_error(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    flaky(client, {1, 2, 3, 4})
    response = await client.post(URL, json={"model": "mock", "prompt": "x", "output_type": "url"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "storage_error"


async def test_edit_output_url(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    from tests.support.edit import data_url, picture

    payload = {"model": "mock", "prompt": "paint it", "images": [{"b64": data_url(picture((96, 64)))}], "output_type": "url"}
    response = await client.post("/api/v1/image/edit", json=payload)
    assert response.status_code == 200, response.text
    image = response.json()["images"][0]
    assert "data_url" not in image and (await fetch(client, image["url"]))[:4] == b"\x89PNG"
