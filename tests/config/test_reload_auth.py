"""The `auth:` section is read at start-up only: a reload that changes it says so loudly instead of
reporting a clean reload while the old authentication settings keep running."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.settings import Settings

URL = "/api/v1/image/generate"
OPEN = """
providers:
  mock: {adapter: mock}
models:
  img: {deployments: [{provider: mock, model: v1}]}
auth: {enabled: false}
"""


@pytest.fixture
def reload_log() -> Iterator[list[str]]:
    """The reloader's messages (the app installs its own logging config, so caplog misses them)."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("imagegate.reload")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


async def test_changed_auth_section_warns_that_it_needs_a_restart(tmp_path: Path, reload_log: list[str]) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(OPEN)
    app = create_app(Settings(config_path=str(path)))
    async with AsyncTestClient(app=app) as client:
        path.write_text(OPEN.replace("enabled: false", "enabled: true"))
        assert await app.state.reloader.reload() is True
        assert any("auth" in line and "restart" in line for line in reload_log)
        body = {"model": "img", "prompt": "x", "width": 64, "height": 64}
        assert (await client.post(URL, json=body)).status_code == 200  # still the start-up auth


async def test_unchanged_auth_section_reloads_quietly(tmp_path: Path, reload_log: list[str]) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(OPEN)
    app = create_app(Settings(config_path=str(path)))
    async with AsyncTestClient(app=app):
        path.write_text(OPEN.replace("img:", "img2:"))
        assert await app.state.reloader.reload() is True
        assert reload_log and not any("restart" in line for line in reload_log)
