"""/schema is served from the installed Swagger UI (no CDN), with a valid example body and the
Sign-In-With-X header described completely. tests/browser renders it with the network unplugged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.schemas import GenerateRequest
from gateway.settings import Settings
from tests.support.app import mock_config


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(Settings(), config=mock_config())) as test_client:
        yield test_client


def test_the_page_loads_nothing_from_another_host(client: TestClient) -> None:  # type: ignore[type-arg]
    page = client.get("/schema").text
    sources = re.findall(r"""(?:src|href)=["']([^"']+)""", page)
    assert sources and all(source.startswith("/schema/assets/") for source in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 0, source


def test_the_example_body_is_valid_and_the_header_is_described(client: TestClient) -> None:  # type: ignore[type-arg]
    operation = client.get("/schema/openapi.json").json()["paths"]["/api/v1/image/generate"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["example"]
    request = msgspec.convert(example, GenerateRequest)
    assert request.model == "mock-image" and request.prompt
    (header,) = [p for p in operation["parameters"] if p["name"] == "Sign-In-With-X"]
    for part in ('"message"', '"signature"', "wants you to sign in with your", "URI: ", "Version: 1",
                 "Chain ID: ", "Nonce: ", "Issued At: ", "Expiration Time: ", "WWW-Authenticate",
                 "EIP-191", "base58", "auth.profile: aimo-sdk"):
        assert part in header["description"], part
