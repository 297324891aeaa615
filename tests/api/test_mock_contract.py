"""The bundled `mock` model keeps the contract's "nothing is silently lost" rule: fields it does not
use are listed in provider_metadata.warnings, and `resolution` sets the size like real adapters."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

URL = "/api/v1/image/generate"
BASE = {"model": "mock-image", "prompt": "a lighthouse", "width": 64, "height": 64}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"style": "noir"}, "style"),
        ({"style_preset": "Anime"}, "style_preset"),
        ({"quality": "high"}, "quality"),
        ({"lora_strength": 50}, "lora_strength"),
        ({"enable_web_search": True}, "enable_web_search"),
        ({"hide_watermark": True}, "hide_watermark"),
        ({"safe_mode": True}, "safe_mode"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio"),  # width and height win over the ratio
    ],
)
async def test_unused_fields_are_warned(
    client: AsyncTestClient, patch: dict[str, object], field: str
) -> None:
    response = await client.post(URL, json={**BASE, **patch})
    assert response.status_code == 200, response.text
    warnings = response.json()["provider_metadata"]["warnings"]
    assert any(w.startswith(f"{field}:") for w in warnings), warnings


async def test_plain_request_has_no_warnings(client: AsyncTestClient) -> None:
    response = await client.post(URL, json={**BASE, "seed": 3, "negative_prompt": "fog", "steps": 10})
    assert response.json()["provider_metadata"]["warnings"] == []


@pytest.mark.parametrize(
    ("patch", "size"),
    [
        ({"resolution": "2K"}, (2048, 2048)),
        ({"resolution": "2K", "aspect_ratio": "16:9"}, (2048, 1152)),
        ({"aspect_ratio": "9:16"}, (576, 1024)),
        ({"height": 512}, (512, 512)),
    ],
)
async def test_size_follows_the_shared_size_rules(
    client: AsyncTestClient, patch: dict[str, object], size: tuple[int, int]
) -> None:
    body = {"model": "mock-image", "prompt": "a lighthouse", **patch}
    response = await client.post(URL, json=body)
    assert response.status_code == 200, response.text
    image = response.json()["images"][0]
    assert (image["width"], image["height"]) == size
