"""docs/examples/routing.providers.yaml (one model per provider and OpenAI-compatible profile)
passes `imagegate check-config`, with keys set and without them (a missing key disables the
provider; it does not fail the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "routing.providers.yaml"
KEYS = ("XAI_API_KEY", "RECRAFT_API_KEY", "ARK_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY",
        "STABILITY_API_KEY", "FAL_KEY", "REPLICATE_API_TOKEN")


@pytest.mark.parametrize("keys", [True, False], ids=["keys-set", "keys-missing"])
def test_the_provider_example_passes_check_config(
    keys: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in KEYS:
        if keys:
            monkeypatch.setenv(key, "test-key")
        else:
            monkeypatch.delenv(key, raising=False)
    assert cli.main(["check-config", str(EXAMPLE)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {EXAMPLE}")
    if keys:
        assert "DISABLED" not in out and "route: NONE" not in out
