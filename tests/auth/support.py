"""Test-only keys and builders for generated SIWX vectors (never use these keys anywhere else)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from litestar.datastructures import Headers

from gateway.auth import AuthCode, SiwxRejected
from gateway.auth.envelope import encode_envelope
from gateway.auth.message import SiwxMessage, format_message
from gateway.auth.policy import AuthPolicy
from gateway.auth.siwx import SiwxAuthenticator, Verified, verify_token
from gateway.client import EvmSigner, SolanaSigner
from gateway.config.auth import AuthConfig
from gateway.state.base import StateStore

EVM_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
EVM_OTHER_KEY = "0x" + "11" * 32
SOLANA_SEED = "4Zb7U1x9Wb2tRvq1JjVQ8y1tLZ3jH9mD6sY2xWcX7Gq1"  # base58 of a test-only 32-byte seed
EVM = EvmSigner.from_hex(EVM_KEY)
EVM_OTHER = EvmSigner.from_hex(EVM_OTHER_KEY)
SOLANA = SolanaSigner.from_secret(SOLANA_SEED)

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
DOMAIN = "gateway.example"
ORIGIN = "https://gateway.example"
URI = ORIGIN + "/api/v1/image/generate"
SOLANA_MAINNET = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"


def config(**overrides: object) -> AuthConfig:
    values: dict[str, object] = {"domains": [DOMAIN], "origins": [ORIGIN]}
    values.update(overrides)
    return AuthConfig(**values)  # type: ignore[arg-type]


def policy(**overrides: object) -> AuthPolicy:
    return AuthPolicy.build(config(**overrides))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def message(signer: EvmSigner | SolanaSigner = EVM, **overrides: object) -> SiwxMessage:
    """A valid message at NOW for `signer`; override any field (None removes optional ones)."""
    base = SiwxMessage(
        domain=DOMAIN,
        address=signer.address,
        account_word=signer.account_word,
        statement="Sign in to imagegate",
        uri=URI,
        version="1",
        chain_id=signer.chain_id,
        nonce="abcdef0123456789",
        issued_at=stamp(NOW - timedelta(seconds=10)),
        expiration_time=stamp(NOW + timedelta(minutes=5)),
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def token(text: str | SiwxMessage, signer: EvmSigner | SolanaSigner = EVM, signature: str | None = None) -> str:
    text = format_message(text) if isinstance(text, SiwxMessage) else text
    return encode_envelope(text, signature if signature is not None else signer.sign(text.encode()))


def signed(signer: EvmSigner | SolanaSigner = EVM, **overrides: object) -> str:
    return token(message(signer, **overrides), signer)


def verify(tok: str | None, pol: AuthPolicy | None = None, now: datetime = NOW) -> Verified:
    return verify_token(tok, pol or policy(), now)


def code_of(tok: str | None, pol: AuthPolicy | None = None, now: datetime = NOW) -> AuthCode | None:
    """The rejection code of steps 1-9, or None when the envelope passes them."""
    try:
        verify(tok, pol, now)
    except SiwxRejected as exc:
        return exc.code
    return None


def authenticator(store: StateStore, pol: AuthPolicy | None = None, now: datetime = NOW) -> SiwxAuthenticator:
    return SiwxAuthenticator(pol or policy(), store, clock=lambda: now)


def headers(tok: str) -> Headers:
    return Headers({"Sign-In-With-X": tok})
