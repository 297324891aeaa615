"""The bundled routing stays offline, and its commented provider examples are valid when uncommented."""

from __future__ import annotations

import re

import httpx

from gateway.config import BUNDLED_CONFIG, load_config, parse_config
from gateway.runtime import Runtime

_CONFIG_LINE = re.compile(r"^(\s*)# ((?:\s*)(?:[\w.-]+:|- ).*)$")


def uncommented(text: str) -> str:
    return "\n".join(_CONFIG_LINE.sub(r"\1\2", line) for line in text.splitlines())


def test_bundled_routing_uses_only_the_mock() -> None:
    config = load_config()
    assert {p.adapter for p in config.providers.values()} == {"mock"}


async def test_commented_examples_parse_and_build() -> None:
    config = parse_config(uncommented(BUNDLED_CONFIG.read_text()))
    kinds = {p.adapter for p in config.providers.values()}
    assert kinds == {"mock", "openai", "flux", "local_diffusion"}
    assert {"dall-e-3", "gpt-image-1", "flux-pro", "flux-ultra", "sdxl"} <= set(config.models)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as client:
        runtime = Runtime.build(config, client)
        caps = runtime.adapters["openai"].capabilities("dall-e-3")
        assert caps.max_n == 1
        await runtime.aclose()
