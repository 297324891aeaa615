"""Bad adapter settings (checked when adapters are built) fail like every other config error: serve
exits 2 with the key path before starting a server, check-config names the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import cli

BAD_SETTINGS = """
providers:
  mock: {adapter: mock, settings: {failure_rate: 2}}
models:
  m: {deployments: [{provider: mock, model: x}]}
"""


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(BAD_SETTINGS)
    return path


def test_serve_rejects_bad_adapter_settings_before_starting(
    bad_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    for name in ("IMAGEGATE_PORT", "IMAGEGATE_HOST", "IMAGEGATE_CONFIG"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    assert cli.main(["serve", "--config", str(bad_file), "--port", "0"]) == 2
    assert started == []
    assert "providers.mock.settings.failure_rate" in caplog.text and str(bad_file) in caplog.text


def test_check_config_names_the_file_for_bad_adapter_settings(
    bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check-config", str(bad_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad_file}: providers.mock.settings.failure_rate")
