"""The bundled routing stays offline, and its commented provider examples are valid when uncommented."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.config import BUNDLED_CONFIG, ConfigError, load_config, parse_config
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


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        (
            "{adapter: flux, settings: {poll_interval_seconds: soon}}",
            "providers.p.settings.poll_interval_seconds",
        ),
        ("{adapter: openai, settings: {api_kye: x}}", "providers.p.settings"),
        ("{adapter: local_diffusion, settings: {base_url: 'http://x'}}", "providers.p.settings"),
        (
            "{adapter: local_diffusion, settings: {backend: a1111, username: u}}",
            "providers.p.settings.password",
        ),
        (
            "{adapter: local_diffusion, settings: {backend: comfyui, placeholders: {prompt: '99.text'}}}",
            "providers.p.settings.placeholders.prompt",
        ),
    ],
)
async def test_bad_provider_settings_name_their_path(provider: str, path: str) -> None:
    config = parse_config(
        f"providers:\n  p: {provider}\nmodels:\n  m:\n    deployments: [{{provider: p, model: x}}]\n"
    )
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError) as info:
            Runtime.build(config, client)
    assert info.value.path == path, info.value
