"""The routing YAML's `auth:` section: defaults, validation with path-naming errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import ConfigError, load_config, parse_config
from tests.support.app import MOCK_ROUTING


def with_auth(section: str) -> str:
    return MOCK_ROUTING.replace("auth:\n  enabled: false\n", "auth:\n" + section)


def test_bundled_routing_enables_single_use_auth() -> None:
    auth = load_config().auth
    assert auth.enabled is True and auth.replay == "single_use" and auth.nonce_required is True
    assert (auth.leeway_seconds, auth.max_age_seconds, auth.max_lifetime_seconds) == (60, 3600, 3600)


def test_a_full_section_parses() -> None:
    auth = parse_config(with_auth(
        "  domains: [api.example.com]\n  origins: ['https://api.example.com']\n  chains: ['eip155:8453']\n"
        "  replay: session\n  nonce_required: false\n  leeway_seconds: 5\n"
    )).auth
    assert auth.domains == ["api.example.com"] and auth.replay == "session" and auth.nonce_required is False


@pytest.mark.parametrize(
    ("section", "path", "fragment"),
    [
        ("  replay: sometimes\n", "auth.replay", "sometimes"),
        ("  colour: blue\n", "auth.colour", "unknown field"),
        ("  leeway_seconds: soon\n", "auth.leeway_seconds", "int"),
        ("  chains: ['eip155:01']\n", "auth", "eip155:01"),
        ("  chains: ['bip122:000000000019d6689c085ae165831e93']\n", "auth", "bip122"),
        ("  chains: ['solana:mainnet']\n", "auth", "not canonical"),
        ("  chains: []\n", "auth", "at least one"),
        ("  domains: ['https://api.example.com']\n", "auth", "authority"),
        ("  origins: ['api.example.com']\n", "auth", "origins"),
        ("  origins: ['https://api.example.com/path']\n", "auth", "origins"),
        ("  nonce_required: false\n", "auth", "replay: session"),
        ("  replay: session\n  nonce_required: false\n  require_issued_nonce: true\n", "auth", "nonce_required"),
        ("  leeway_seconds: -1\n", "auth.leeway_seconds", ">= 0"),
    ],
)
def test_invalid_sections_name_their_path(section: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_auth(section))
    assert caught.value.path == path and fragment in str(caught.value)


# Huge values passed check-config and then overflowed the time check of every signed request (500).
HUGE = [
    ("leeway_seconds", 10**12, "<= 600"),
    ("leeway_seconds", 601, "<= 600"),
    ("max_age_seconds", 10**15, "<= 604800"),
    ("max_lifetime_seconds", 2**63, "<= 604800"),
    ("max_lifetime_seconds", 604801, "<= 604800"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), HUGE)
def test_huge_time_settings_are_refused_by_load_config(
    tmp_path: Path, field: str, value: int, fragment: str
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(with_auth(f"  {field}: {value}\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == f"auth.{field}" and fragment in str(caught.value)


@pytest.mark.parametrize(("field", "value", "fragment"), HUGE)
def test_huge_time_settings_fail_check_config_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: int, fragment: str
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(with_auth(f"  {field}: {value}\n"))
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"auth.{field}" in err and fragment in err and "Traceback" not in err


def test_the_largest_allowed_time_settings_load() -> None:
    auth = parse_config(with_auth(
        "  leeway_seconds: 600\n  max_age_seconds: 604800\n  max_lifetime_seconds: 604800\n"
    )).auth
    assert (auth.leeway_seconds, auth.max_age_seconds, auth.max_lifetime_seconds) == (600, 604800, 604800)
