"""`GET /api/v1/models` shows what each new provider and profile declares, served from the
provider example file (docs/examples/routing.providers.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.settings import Settings
from tests.config.test_provider_examples import EXAMPLE, KEYS
from tests.support.app import mock_config


async def test_models_list_the_capabilities_of_every_new_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        monkeypatch.setenv(key, "test-key")
    app = create_app(Settings(), config=mock_config(Path(EXAMPLE).read_text()))
    async with AsyncTestClient(app=app) as client:
        payload = (await client.get("/api/v1/models")).json()
    caps: dict[str, dict[str, Any]] = {m["id"]: m["providers"][0]["capabilities"] for m in payload["data"]}
    assert caps["nano-banana"]["max_n"] == 1 and "16:9" in caps["nano-banana"]["aspect_ratios"]
    assert caps["imagen-4"]["max_n"] == 4
    assert caps["stable-image-core"]["seed"] is True and "21:9" in caps["stable-image-core"]["aspect_ratios"]
    assert caps["flux-dev-fal"]["streaming"] is True and caps["flux-dev-fal"]["steps"] is True
    assert caps["flux-schnell-replicate"]["max_n"] == 4 and caps["flux-schnell-replicate"]["streaming"] is True
    assert caps["seedream-4"]["max_n"] == 1 and caps["seedream-4"]["seed"] is True
    assert "20:9" in caps["grok-imagine"]["aspect_ratios"]
    assert "1820x1024" in caps["recraft-v3"]["sizes"]
    assert caps["qwen-image-local"]["negative_prompt"] is True
