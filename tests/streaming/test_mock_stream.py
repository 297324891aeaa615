"""`stream: true` end to end against the mock provider, over a real socket (uvicorn on loopback)."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import msgspec
import pytest
from PIL import Image

from adapters.mock import MockAdapter
from gateway.schemas import ErrorResponse, GenerateResponse
from tests.streaming.support import URL, Live, check_stream, collect, live_server, summary, wait_for

ROUTING = """
server: {stream_heartbeat_seconds: 0.02}
providers:
  mock: {adapter: mock, settings: {max_n: 1, stream_steps: 2, stream_previews: 1}}
  batch: {adapter: mock, settings: {max_n: 4, stream_steps: 1, stream_previews: 1}}
  broken:
    adapter: mock
    settings: {failure_rate: 1.0, failure_class: credential, stream_steps: 2, stream_previews: 1, fail_at_step: 3}
  holey: {adapter: mock, settings: {max_n: 1, fail_seeds: [11], failure_class: credential, stream_steps: 1, stream_previews: 0}}
  slow: {adapter: mock, settings: {latency_ms: 600000, stream_steps: 4}}
  hiccup: {adapter: mock, settings: {script: [transient, ok], stream_steps: 1, stream_previews: 0}}
  slowfan: {adapter: mock, settings: {max_n: 1, latency_ms: 600000, stream_steps: 4}}
models:
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
  batch-image: {deployments: [{provider: batch, model: mock-v1}]}
  flaky-image: {deployments: [{provider: broken, model: mock-broken}, {provider: mock, model: mock-v1}]}
  dead-image: {deployments: [{provider: broken, model: mock-broken}]}
  holey-image: {deployments: [{provider: holey, model: mock-v1}]}
  slow-image: {deployments: [{provider: slow, model: mock-slow}]}
  hiccup-image: {deployments: [{provider: hiccup, model: mock-v1}]}
  slowfan-image: {deployments: [{provider: slowfan, model: mock-slow}]}
auth: {enabled: false}
"""
BODY = {"prompt": "a lighthouse", "seed": 10, "width": 96, "height": 64, "stream": True}


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    async with live_server(ROUTING) as server:
        yield server


def mock(live: Live, provider: str) -> MockAdapter:
    adapter = live.adapter(provider)
    assert isinstance(adapter, MockAdapter)
    return adapter


async def test_success_exact_sequence(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "mock-image"})
    assert summary(events) == [
        ("progress", 0, 0, 2, None),
        ("progress", 0, 1, 2, None),
        ("progress", 0, 2, 2, None),
        ("partial_image", 0, "data:image/jpeg"),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    image = response.images[0]
    assert (image.width, image.height, image.seed) == (96, 64, 10)
    with Image.open(io.BytesIO(base64.b64decode(image.data_url.split(",", 1)[1]))) as decoded:
        assert decoded.size == (96, 64)


async def test_completed_equals_the_json_answer(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "mock-image", "n": 2})
    streamed = check_stream(events)
    plain = await live.client.post(URL, json={**BODY, "model": "mock-image", "n": 2, "stream": False})
    answer = msgspec.json.decode(plain.content, type=GenerateResponse)
    assert isinstance(streamed, GenerateResponse)
    assert streamed.images == answer.images
    assert streamed.status == answer.status == "completed"
    assert [a.shard for a in streamed.provider_metadata.attempts] == [0, 1]
    assert streamed.provider_metadata.raw.keys() == answer.provider_metadata.raw.keys() == {"calls"}


async def test_fan_out_announces_images_in_order(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "mock-image", "n": 3})
    check_stream(events)
    steps = summary(events)
    for index in range(3):
        assert [s for s in steps if s[1] == index and s[0] != "completed"] == [
            ("progress", index, 0, 2, None),
            ("progress", index, 1, 2, None),
            ("progress", index, 2, 2, None),
            ("partial_image", index, "data:image/jpeg"),
            ("image", index, "png"),
        ]
    assert [s[1] for s in steps if s[0] == "image"] == [0, 1, 2]


async def test_batch_call_reports_progress_for_every_image(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "batch-image", "n": 2, "output_format": "webp"})
    check_stream(events)
    assert summary(events) == [
        ("progress", 0, 0, 1, None),
        ("progress", 1, 0, 1, None),
        ("progress", 0, 1, 1, None),
        ("progress", 1, 1, 1, None),
        ("partial_image", 0, "data:image/jpeg"),
        ("partial_image", 1, "data:image/jpeg"),
        ("image", 0, "webp"),
        ("image", 1, "webp"),
        ("completed", "completed", 2),
    ]
    assert mock(live, "batch").calls == 1


async def test_failure_before_first_image_falls_back(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "flaky-image"})
    assert summary(events) == [
        # the broken route streams three steps and a preview, then dies
        ("progress", 0, 0, 2, None),
        ("progress", 0, 1, 2, None),
        ("progress", 0, 2, 2, None),
        ("partial_image", 0, "data:image/jpeg"),
        ("progress", 0, 0, None, "mock"),  # the fallback is announced
        ("progress", 0, 0, 2, None),
        ("progress", 0, 1, 2, None),
        ("progress", 0, 2, 2, None),
        ("partial_image", 0, "data:image/jpeg"),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    notice = msgspec.json.decode(events[4].data)
    assert notice["attempt"] == 2
    assert notice["message"] == "attempt 1 failed (credential from broken); falling back to mock"
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert [a.outcome for a in response.provider_metadata.attempts] == ["credential", "ok"]
    assert (mock(live, "broken").calls, mock(live, "mock").calls) == (1, 1)


async def test_retry_of_the_same_route_is_announced(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "hiccup-image"})
    assert summary(events) == [
        ("progress", 0, 0, None, "hiccup"),
        ("progress", 0, 0, 1, None),
        ("progress", 0, 1, 1, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    notice = msgspec.json.decode(events[0].data)
    assert notice["message"] == "attempt 1 failed (transient from hiccup); retrying"
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert [a.outcome for a in response.provider_metadata.attempts] == ["transient", "ok"]


async def test_failure_after_first_image_ends_partial(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "holey-image", "n": 2})
    assert summary(events) == [
        ("progress", 0, 0, 1, None),
        ("progress", 0, 1, 1, None),
        ("image", 0, "png"),
        ("completed", "partial", 1),
    ]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert response.error is not None and response.error.code == "upstream_error"
    assert response.error.message.startswith("1 of 2 images failed")
    assert [a.outcome for a in response.provider_metadata.attempts] == ["ok", "credential"]


async def test_every_route_failing_ends_with_error(live: Live) -> None:
    events = await collect(live.client, {**BODY, "model": "dead-image"})
    assert summary(events)[-2:] == [("partial_image", 0, "data:image/jpeg"), ("error", "upstream_error")]
    error = check_stream(events)
    assert isinstance(error, ErrorResponse)
    assert "credential" in error.error.message


async def test_client_disconnect_cancels_the_provider_call(live: Live) -> None:
    slow = mock(live, "slow")
    async with live.client.stream("POST", URL, json={**BODY, "model": "slow-image"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                assert msgspec.json.decode(line[5:])["step"] == 0
                break
    # the socket is closed: the gateway cancels the call in flight instead of running it to the end
    await wait_for(lambda: slow.cancelled == 1)
    assert (slow.calls, slow.steps_done) == (1, 0)


async def test_client_disconnect_cancels_every_shard(live: Live) -> None:
    slow = mock(live, "slowfan")
    async with live.client.stream("POST", URL, json={**BODY, "model": "slowfan-image", "n": 3}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                break
    await wait_for(lambda: slow.cancelled == 3)
    assert (slow.calls, slow.steps_done) == (3, 0)


async def test_heartbeat_comments_while_idle(live: Live) -> None:
    seen: list[str] = []
    async with live.client.stream("POST", URL, json={**BODY, "model": "slow-image"}) as response:
        async for line in response.aiter_lines():
            seen.append(line)
            if line == ": heartbeat":
                break
    assert seen[:4] == ["id: 1", "event: progress", 'data: {"index":0,"step":0,"total_steps":4}', ""]
    assert seen[-1] == ": heartbeat"
    await wait_for(lambda: mock(live, "slow").cancelled == 1)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "nope"}, 404, "model_not_found"),
        ({"model": "mock-image", "output_type": "file"}, 400, "invalid_request"),
        ({"model": "mock-image", "n": 11}, 400, "invalid_request"),
    ],
)
async def test_errors_before_the_stream_are_json(live: Live, body: dict[str, object], status: int, code: str) -> None:
    response = await live.client.post(URL, json={**BODY, **body})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    assert mock(live, "mock").calls == 0
