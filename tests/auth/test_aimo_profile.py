"""`auth.profile: aimo-sdk` (docs/authentication.md): the settings it fixes, the https origin of
`siwxDomain`, and the 401 that names the setting when a refused message looks like the SDK's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.auth import AuthCode, SiwxRejected
from gateway.config import ConfigError, parse_config
from tests.auth.support import DOMAIN, EVM, NOW, SOLANA, config, policy, signed, stamp, verify

SDK_LIKE = {
    "statement": None,
    "nonce": None,
    "issued_at": None,
    "chain_id": "eip155:1",
    "expiration_time": stamp(NOW + timedelta(hours=1)),
}
ROUTING = "providers: {mock: {adapter: mock}}\nmodels: {m: {deployments: [{provider: mock, model: x}]}}\n"


def test_the_profile_sets_session_replay_and_an_optional_nonce() -> None:
    profiled = config(profile="aimo-sdk")
    assert profiled.replay == "session" and profiled.nonce_required is False
    loaded = parse_config(ROUTING + "auth: {profile: aimo-sdk}\n").auth
    assert loaded.replay == "session" and not loaded.nonce_required
    assert parse_config(ROUTING).auth.replay == "single_use"  # single-use nonces stay the default


@pytest.mark.parametrize("line", ["replay: single_use", "nonce_required: true"])
def test_a_setting_the_profile_overrides_is_a_config_error(line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ROUTING + f"auth:\n  profile: aimo-sdk\n  {line}\n")
    assert caught.value.path == f"auth.{line.split(':')[0]}" and "aimo-sdk" in caught.value.message


def test_a_lifetime_shorter_than_the_sdks_hour_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="1 hour"):
        parse_config(ROUTING + "auth: {profile: aimo-sdk, max_lifetime_seconds: 600}\n")


@pytest.mark.parametrize("signer", [EVM, SOLANA], ids=["evm", "solana"])
def test_the_sdk_message_passes_under_the_profile(signer: object) -> None:
    chain = "eip155:1" if signer is EVM else "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
    verified = verify(signed(signer, **{**SDK_LIKE, "chain_id": chain}), policy(profile="aimo-sdk"))  # type: ignore[arg-type]
    assert verified.nonce is None


def test_the_sdk_message_without_the_profile_names_the_setting() -> None:
    with pytest.raises(SiwxRejected) as caught:
        verify(signed(EVM, **SDK_LIKE), policy())
    assert caught.value.code is AuthCode.INVALID_MESSAGE
    assert "Issued At is required" in caught.value.message and "auth.profile: aimo-sdk" in caught.value.message
    with pytest.raises(SiwxRejected) as session:  # session replay without nonce_required: false
        verify(signed(EVM, **SDK_LIKE), policy(replay="session"))
    assert "Nonce is required" in session.value.message and "auth.profile: aimo-sdk" in session.value.message


def test_other_messages_get_no_sdk_hint() -> None:
    with pytest.raises(SiwxRejected) as caught:
        verify(signed(EVM, nonce=None), policy())  # has Issued At and a statement: not the SDK
    assert "aimo" not in caught.value.message.lower()


def test_siwx_domain_https_uri_is_accepted_only_under_the_profile() -> None:
    rewritten = {**SDK_LIKE, "uri": f"https://{DOMAIN}/api/v1/image/generate"}
    http_only = {"domains": [DOMAIN], "origins": [f"http://{DOMAIN}:8080"]}
    assert verify(signed(EVM, **rewritten), policy(profile="aimo-sdk", **http_only)).nonce is None
    with pytest.raises(SiwxRejected) as caught:
        verify(signed(EVM, **rewritten), policy(replay="session", nonce_required=False, **http_only))
    assert caught.value.code is AuthCode.URI_MISMATCH and "auth.profile: aimo-sdk" in caught.value.message
