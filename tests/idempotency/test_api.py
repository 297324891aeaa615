"""Idempotency-Key over HTTP, in process: replays without a provider call (counted on the fake
OpenAI upstream), 422 on another body, validation errors that leave the key usable, per-account
scope, stored provider failures, the OpenAI route and `stream: true`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.datastructures import Headers
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.auth import Principal
from gateway.config import parse_config
from gateway.settings import Settings
from tests.fakes.base import Failure
from tests.fakes.openai import FakeOpenAI

URL = "/api/v1/image/generate"
ROUTING = """
providers:
  openai: {adapter: openai, settings: {api_key: sk-test-0123456789}}
  mock: {adapter: mock}
models:
  gpt-image-1: {deployments: [{provider: openai, model: gpt-image-1}]}
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
retry: {attempts: 1}
auth: {enabled: false}
"""


class HeaderAuthenticator:
    """The account is whatever `X-Test-Account` says."""

    async def authenticate(self, headers: Headers, client_ip: str) -> Principal:
        return Principal(account=headers.get("x-test-account", "eip155:1:0xA"), chain="eip155:1")


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(transport=fake.transport())
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as test_client:
        app.state.services.authenticator = HeaderAuthenticator()
        yield test_client
    await http.aclose()


def body(prompt: str = "a red fox", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-image-1", "prompt": prompt, **extra}


async def post(client: AsyncTestClient, payload: dict[str, Any], key: str | None = "key-1", **headers: str) -> httpx.Response:  # type: ignore[type-arg]
    sent = {"Idempotency-Key": key} if key is not None else {}
    return await client.post(URL, json=payload, headers={**sent, **headers})


def replays(result: str) -> float:
    return REGISTRY.get_sample_value("imagegate_idempotent_replays_total", {"route": URL, "result": result}) or 0.0


async def test_repeat_is_the_stored_response_without_a_provider_call(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    before = replays("replayed")
    first = await post(client, body())
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    second = await post(client, {"prompt": "a red fox", "model": "gpt-image-1"})  # key order differs
    assert second.status_code == 200 and second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content and second.headers["content-type"] == "application/json"
    assert second.headers["x-request-id"] != first.headers["x-request-id"]  # the request is new
    assert fake.calls == 1
    assert replays("replayed") == before + 1
    assert (await post(client, body(), key=None)).status_code == 200 and fake.calls == 2  # no key: runs


async def test_different_body_under_the_same_key_is_422(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    assert (await post(client, body())).status_code == 200
    refused = await post(client, body("a blue fox"))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_key_mismatch"
    assert refused.json()["error"]["param"] == "Idempotency-Key"
    assert fake.calls == 1


async def test_validation_error_does_not_poison_the_key(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    bad = await post(client, body(n=0))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "n"
    unknown_model = await post(client, {"model": "nope", "prompt": "x"})
    assert unknown_model.status_code == 404
    fixed = await post(client, body())
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers and fake.calls == 1


async def test_failure_before_any_provider_call_releases_the_key(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    fake.failure = Failure(raise_exc=httpx.ConnectError("connection refused"))  # nothing was sent
    refused = await post(client, body())
    assert refused.status_code == 502 and fake.calls == 0
    fake.failure = None
    ok = await post(client, body())
    assert ok.status_code == 200 and "idempotent-replayed" not in ok.headers and fake.calls == 1


async def test_provider_failure_is_stored_and_replayed(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    fake.failure = Failure(status=500, body=b'{"error": {"message": "boom", "type": "server_error"}}')
    first = await post(client, body())
    assert first.status_code == 502
    fake.failure = None
    second = await post(client, body())
    assert second.status_code == 502 and second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json() and fake.calls == 0  # the 500 never counted as a generation
    assert len(fake.requests) == 1


async def test_keys_are_scoped_per_account(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    mine = await post(client, body(), **{"x-test-account": "eip155:1:0xA"})
    theirs = await post(client, body(), **{"x-test-account": "eip155:1:0xB"})
    assert mine.status_code == theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers and theirs.content != mine.content
    assert fake.calls == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "caf\u00e9"])
async def test_malformed_key_is_400_naming_the_header(client: AsyncTestClient, fake: FakeOpenAI, key: str) -> None:  # type: ignore[type-arg]
    refused = await client.post(URL, json=body(), headers=[(b"Idempotency-Key", key.encode())])
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "Idempotency-Key" and fake.calls == 0


async def test_openai_route_replays_in_its_own_shape(client: AsyncTestClient, fake: FakeOpenAI) -> None:  # type: ignore[type-arg]
    payload = {"model": "gpt-image-1", "prompt": "a red fox"}
    first = await client.post("/v1/images/generations", json=payload, headers={"Idempotency-Key": "o-1"})
    second = await client.post("/v1/images/generations", json=payload, headers={"Idempotency-Key": "o-1"})
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true" and second.content == first.content
    other = await client.post("/v1/images/generations", json={**payload, "quality": "high"}, headers={"Idempotency-Key": "o-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_mismatch"
    assert set(other.json()["error"]) == {"message", "type", "param", "code"}
    # The same key on the canonical route is another record (scope: account + route).
    assert (await post(client, body(), key="o-1")).status_code == 200
    assert fake.calls == 2


async def test_stream_replays_the_completed_event(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    payload = {"model": "mock-image", "prompt": "a red fox", "stream": True}
    first = await post(client, payload, key="s-1")
    assert first.status_code == 200 and "event: completed" in first.text
    second = await post(client, payload, key="s-1")
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"].startswith("text/event-stream")
    completed = [block for block in first.text.split("\n\n") if "event: completed" in block]
    assert second.text.strip() == completed[0].strip()
    assert "event: progress" not in second.text


async def test_edit_route_replays_and_the_inputs_are_part_of_the_fingerprint(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    from tests.support.edit import data_url, picture

    def edit(shade: int) -> dict[str, Any]:
        return {"model": "mock-image", "prompt": "paint it", "images": [{"b64": data_url(picture((96, 64), (shade, 60, 200)))}]}

    before = REGISTRY.get_sample_value("imagegate_images_generated_total", {"model": "mock-image", "provider": "mock"}) or 0.0
    first = await client.post("/api/v1/image/edit", json=edit(1), headers={"Idempotency-Key": "e-1"})
    assert first.status_code == 200, first.text
    second = await client.post("/api/v1/image/edit", json=edit(1), headers={"Idempotency-Key": "e-1"})
    assert second.headers["idempotent-replayed"] == "true" and second.content == first.content
    after = REGISTRY.get_sample_value("imagegate_images_generated_total", {"model": "mock-image", "provider": "mock"})
    assert after == before + 1  # one generation for two sends
    other_image = await client.post("/api/v1/image/edit", json=edit(2), headers={"Idempotency-Key": "e-1"})
    assert other_image.status_code == 422 and other_image.json()["error"]["code"] == "idempotency_key_mismatch"
