"""A provider's base64 PNG passes through untouched in streamed responses too (no decode/re-encode)."""

from __future__ import annotations

import base64

import httpx

from gateway.schemas import GenerateResponse
from tests.streaming.support import check_stream, collect, live_server
from tests.support.images import png

ROUTING = """
providers:
  openai: {adapter: openai, settings: {api_key: sk-test-SECRET-0123456789}}
models:
  dall-e-3: {deployments: [{provider: openai, model: dall-e-3}]}
auth: {enabled: false}
"""


def png_b64() -> str:
    return base64.b64encode(png((200, 40, 40), (48, 32))).decode("ascii")


async def test_non_streaming_provider_in_a_stream_keeps_the_provider_base64() -> None:
    text = png_b64()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": text}]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    async with live_server(ROUTING, http) as live:
        events = await collect(live.client, {"model": "dall-e-3", "prompt": "a red fox", "stream": True})
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.status == "completed"
    [image] = response.images
    assert image.data_url == "data:image/png;base64," + text
    assert (image.width, image.height, image.format) == (48, 32, "png")
