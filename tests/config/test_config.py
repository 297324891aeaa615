"""The routing YAML: policy sections, `${VAR}` credentials, path-naming errors, check-config."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from litestar.testing import AsyncTestClient

from adapters.registry import registered
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderResult
from gateway.cli import main
from gateway.config import ConfigError, parse_config, resolve_provider_settings
from gateway.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "routing.example.yaml"


class KeyedAdapter:
    """Records the settings it was built with (to prove what credentials it would send)."""

    kind: ClassVar[str] = "test-keyed"
    built: ClassVar[list[dict[str, object]]] = []

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        KeyedAdapter.built.append(dict(settings))

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities()

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        raise AssertionError("never called in these tests")

    async def aclose(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _test_keyed_kind() -> Iterator[None]:
    """The `test-keyed` adapter kind, for this module's tests only (not registered at import time)."""
    with registered("test-keyed", KeyedAdapter):
        yield


KEYED = """
providers:
  openai:
    adapter: test-keyed
    base_url: https://api.example/v1
    settings: {api_key: "${IG_TEST_KEY}", headers: {org: "org-${IG_TEST_ORG}"}}
  mock: {adapter: mock}
models:
  dall-e-3:
    deployments: [{provider: openai, model: dall-e-3}]
  mock-image:
    deployments: [{provider: mock, model: m}]
auth: {enabled: false}
"""


def test_env_vars_are_substituted_anywhere_in_settings() -> None:
    config = parse_config(KEYED)
    settings, missing = resolve_provider_settings(
        config.providers["openai"], {"IG_TEST_KEY": "sk-live", "IG_TEST_ORG": "42"}
    )
    assert missing == []
    assert settings == {"api_key": "sk-live", "headers": {"org": "org-42"}, "base_url": "https://api.example/v1"}


async def test_missing_env_var_disables_the_provider_and_its_model_answers_clearly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    KeyedAdapter.built.clear()
    config = parse_config(KEYED)
    async with httpx.AsyncClient() as http:
        runtime = Runtime.build(config, http, environ={"IG_TEST_ORG": "42", "IG_TEST_KEY": ""})
    assert KeyedAdapter.built == []  # never built with an empty key
    assert "openai" in runtime.disabled and "IG_TEST_KEY" in runtime.disabled["openai"]
    assert "IG_TEST_KEY" in caplog.text and "DISABLED" in caplog.text

    from gateway.app import create_app
    from gateway.settings import Settings

    app = create_app(Settings(), config=config)
    async with AsyncTestClient(app=app) as client:
        ok = await client.post("/api/v1/image/generate", json={"model": "mock-image", "prompt": "x"})
        dead = await client.post("/api/v1/image/generate", json={"model": "dall-e-3", "prompt": "x"})
    assert ok.status_code == 200
    assert dead.status_code == 502 and "no enabled deployment" in dead.json()["error"]["message"]
    assert "sk-" not in dead.text


@pytest.mark.parametrize(
    ("mutation", "path"),
    [
        (("retry: {attempts: 3}", "retry: {attemps: 3}"), "retry.attemps"),
        (("retry: {attempts: 3}", "retry: {attempts: three}"), "retry.attempts"),
        (("strategy: fallback", "strategy: random"), "models.m.strategy"),
        (("weight: 1", "weight: -1"), "models.m.deployments[0].weight"),
        (("fallback_models: [n]", "fallback_models: [ghost]"), "models.m.fallback_models[0]"),
        (("max_concurrency: 4", "max_concurrency: 0"), "providers.p.max_concurrency"),
        (("connect_seconds: 5", "connect_secs: 5"), "providers.p.timeouts.connect_secs"),
        (("on_ambiguous: fail", "on_ambiguous: maybe"), "fallback.on_ambiguous"),
        (("open_seconds: 30", "open_seconds: soon"), "circuit_breaker.open_seconds"),
        (("deadline_seconds: 30", "deadline_seconds: 0"), "models.m.deadline_seconds"),
    ],
)
def test_invalid_keys_name_their_path(mutation: tuple[str, str], path: str) -> None:
    base = """
providers:
  p: {adapter: mock, max_concurrency: 4, timeouts: {connect_seconds: 5}}
models:
  m:
    strategy: fallback
    deadline_seconds: 30
    deployments: [{provider: p, model: x, weight: 1}]
    fallback_models: [n]
  n:
    deployments: [{provider: p, model: y}]
retry: {attempts: 3}
fallback: {on_ambiguous: fail}
circuit_breaker: {open_seconds: 30}
"""
    parse_config(base)  # the unmutated file is valid
    old, new = mutation
    with pytest.raises(ConfigError) as caught:
        parse_config(base.replace(old, new))
    assert caught.value.path == path


def test_check_config_on_the_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "route: mock/mock-v1 -> mock-backup/mock-v1" in out
    assert "strategy=weighted" in out and "retry: attempts=3" in out and "ambiguous: retry=if_idempotent then=fail" in out


def test_check_config_reports_disabled_providers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IG_TEST_KEY", raising=False)
    monkeypatch.setenv("IG_TEST_ORG", "42")
    path = tmp_path / "keyed.yaml"
    path.write_text(KEYED)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "openai: adapter=test-keyed DISABLED (missing environment variable(s): IG_TEST_KEY)" in out
    assert "route: NONE" in out


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("attempts: 3", "attempts: many", "retry.attempts"),
        ("model: mock-v1\n      - provider: mock-backup", "modle: mock-v1\n      - provider: mock-backup", "models.mock-image.deployments[0]"),
        ("failure_rate: 0.2", "failure_rate: 2", "providers.mock-backup.settings.failure_rate"),
        ("fallback_models: [mock-image]", "fallback_models: [nope]", "models.mock-balanced.fallback_models[0]"),
    ],
)
def test_check_config_on_broken_files_names_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, path: str
) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(old, new, 1))
    assert main(["check-config", str(broken)]) == 1
    assert path in capsys.readouterr().err


NUMERIC_FROM_ENV = """
providers:
  openai:
    adapter: openai
    settings: {api_key: "${IG_TEST_KEY}", timeout_seconds: "${IG_TEST_TIMEOUT}", max_n: "${IG_TEST_N}"}
  mock: {adapter: mock, settings: {latency_ms: "${IG_TEST_LATENCY}", failure_rate: "${IG_TEST_RATE}"}}
models:
  dall-e-2: {deployments: [{provider: openai, model: dall-e-2}]}
  mock-image: {deployments: [{provider: mock, model: m}]}
auth: {enabled: false}
"""


def test_env_vars_work_in_numeric_settings_and_a_numeric_key_stays_a_string(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/routing.md: `${VAR}` works anywhere in settings. A substituted value is text, so a
    numeric setting must accept it ("12" -> 12.0) — and a digits-only key must not become a number."""
    env = {"IG_TEST_KEY": "0123456789", "IG_TEST_TIMEOUT": "12.5", "IG_TEST_N": "2", "IG_TEST_LATENCY": "0", "IG_TEST_RATE": "0.1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "numeric.yaml"
    path.write_text(NUMERIC_FROM_ENV)
    assert main(["check-config", str(path)]) == 0, capsys.readouterr()
    from adapters.base import decode_settings
    from adapters.openai_images import OpenAISettings

    settings, missing = resolve_provider_settings(parse_config(NUMERIC_FROM_ENV).providers["openai"])
    decoded = decode_settings(OpenAISettings, settings)
    assert missing == [] and decoded.timeout_seconds == 12.5 and decoded.max_n == 2
    assert decoded.api_key == "0123456789"
    monkeypatch.setenv("IG_TEST_TIMEOUT", "soon")  # still refused, still without the value
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "timeout_seconds" in err and "soon" not in err
