"""Public SIWX vectors (../shared/siwx-vectors): every positive marked as verifying verifies here.

Messages are rebuilt in the profile their library signs (EIP-4361 layout; Web3Auth SIWS = the same
layout with "Solana account" and `Chain ID: 1`); pileks/siws-rs ships the signed bytes themselves.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import base58
import pytest

from gateway.auth import AuthCode, SiwxRejected
from gateway.auth.message import parse_message
from gateway.auth.policy import AuthPolicy, check_binding, parse_time
from gateway.auth.signatures import verify_evm, verify_solana
from tests.auth.support import config, token, verify

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "siwx-vectors"
if not VECTORS.is_dir():  # worktrees live beside ../shared
    VECTORS = Path("/work/shared/siwx-vectors")
RESULTS = json.loads((VECTORS / "public-verification-results.json").read_text())["results"]


def _verifying(source: str) -> list[str]:
    return [r["name"] for r in RESULTS if r["source"] == source and r["signature_valid"] is True]


def _load(source: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "public" / source).read_text())
    return data


def eip4361_text(fields: dict[str, Any], word: str = "Ethereum") -> str:
    lines = [f"{fields['domain']} wants you to sign in with your {word} account:", fields["address"], ""]
    lines += [fields["statement"], ""] if fields.get("statement") else [""]
    lines += [f"URI: {fields['uri']}", f"Version: {fields['version']}", f"Chain ID: {fields['chainId']}"]
    labels = [("nonce", "Nonce"), ("issuedAt", "Issued At"), ("expirationTime", "Expiration Time"),
              ("notBefore", "Not Before"), ("requestId", "Request ID")]
    lines += [f"{label}: {fields[key]}" for key, label in labels if key in fields]
    if "resources" in fields:
        lines += ["Resources:", *(f"- {r}" for r in fields["resources"])]
    return "\n".join(lines)


def vector_policy(fields: dict[str, Any], chain: str = "eip155:1") -> AuthPolicy:
    origin = "/".join(fields["uri"].split("/")[:3])
    return AuthPolicy.build(
        config(domains=[fields["domain"]], origins=[origin], chains=[chain], max_lifetime_seconds=4 * 10**9,
               max_age_seconds=4 * 10**9)
    )


EVM_POSITIVE = [
    (source, name)
    for source in ("spruceid-siwe/verification_positive.json", "signinwithethereum-siwe/verification_positive.json")
    for name in _verifying(source)
]


def test_the_results_file_marks_the_expected_positives() -> None:
    assert len(EVM_POSITIVE) == 8
    assert _verifying("web3auth-siws/validation_positive.json") == ["example message", "without expiration"]


@pytest.mark.parametrize(("source", "name"), EVM_POSITIVE)
def test_evm_positive_vectors_verify_at_the_signature_step(source: str, name: str) -> None:
    fields = _load(source)[name]
    text = eip4361_text(fields)
    message = parse_message(text)
    assert message.text == text and message.two_blank_lines is False
    assert check_binding(message, vector_policy(fields)) == ("eip155", "eip155:1")
    assert verify_evm(text.encode(), fields["address"], fields["signature"]) == fields["address"]


@pytest.mark.parametrize("source", ["spruceid-siwe/verification_positive.json",
                                    "signinwithethereum-siwe/verification_positive.json"])
def test_evm_example_message_passes_the_whole_pipeline_at_its_own_time(source: str) -> None:
    fields = _load(source)["example message"]
    now = parse_time(fields["issuedAt"], "iat") + timedelta(seconds=1)
    verified = verify(token(eip4361_text(fields), signature=fields["signature"]), vector_policy(fields), now)
    assert verified.principal.account == f"eip155:1:{fields['address']}"


NEGATIVE_WITH_VALID_SIGNATURE = {
    "expired message": AuthCode.EXPIRED,
    "domain binding": AuthCode.DOMAIN_MISMATCH,
    "invalid notBefore": AuthCode.INVALID_MESSAGE,
    "invalid expirationTime": AuthCode.INVALID_MESSAGE,
    "wrong signature": AuthCode.INVALID_SIGNATURE,
    "malformed signature": AuthCode.INVALID_SIGNATURE,  # odd-length hex (131 digits)
    "invalid issuedAt": AuthCode.INVALID_MESSAGE,
}


@pytest.mark.parametrize(("name", "code"), sorted(NEGATIVE_WITH_VALID_SIGNATURE.items()))
def test_spruceid_negatives_fail_on_their_rule(name: str, code: AuthCode) -> None:
    fields = _load("spruceid-siwe/verification_negative.json")[name]
    policy = vector_policy(fields)
    if "domainBinding" in fields:
        policy = AuthPolicy.build(config(domains=[fields["domainBinding"]], origins=["https://login.xyz"],
                                         chains=["eip155:1"]))
    now = parse_time("2022-02-01T00:00:00Z", "now")
    with pytest.raises(SiwxRejected) as caught:
        verify(token(eip4361_text(fields), signature=fields["signature"]), policy, now)
    assert caught.value.code is code


@pytest.mark.parametrize(
    ("name", "code"), [("argent", AuthCode.INVALID_SIGNATURE), ("loopring", AuthCode.UNSUPPORTED_SIGNATURE)]
)
def test_eip1271_contract_wallet_signatures_are_refused(name: str, code: AuthCode) -> None:
    # Argent's is 65 bytes and recovers an unrelated EOA; Loopring's is 66 bytes (needs an RPC).
    vector = _load("spruceid-siwe/eip1271.json")[name]
    message = parse_message(vector["message"])
    with pytest.raises(SiwxRejected) as caught:
        verify_evm(vector["message"].encode(), message.address, vector["signature"])
    assert caught.value.code is code


def test_pileks_siws_raw_bytes_verify() -> None:
    data = _load("pileks-siws-rs/test_message.json")
    address = base58.b58encode(bytes(data["account"]["public_key"])).decode()
    signature = base58.b58encode(bytes(data["signature"])).decode()
    assert verify_solana(bytes(data["signed_message"]), address, signature) == address
    with pytest.raises(SiwxRejected):
        verify_solana(bytes(data["signed_message"]) + b" ", address, signature)


WEB3AUTH = [("web3auth-siws/validation_positive.json", n) for n in _verifying("web3auth-siws/validation_positive.json")]
WEB3AUTH += [("web3auth-siws-go/validation_positive.json", n)
             for n in _verifying("web3auth-siws-go/validation_positive.json")]


@pytest.mark.parametrize(("source", "name"), WEB3AUTH)
def test_web3auth_solana_positives_verify_at_the_signature_step(source: str, name: str) -> None:
    vector = _load(source)[name]
    fields = vector["payload"]
    text = eip4361_text(fields, word="Solana")
    assert parse_message(text).text == text
    assert verify_solana(text.encode(), fields["address"], vector["signature"]["s"]) == fields["address"]
    # Their `Chain ID: 1` is not a Solana chain id we accept (siwx-auth.md, chain forms).
    with pytest.raises(SiwxRejected) as caught:
        check_binding(parse_message(text), vector_policy(fields, "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"))
    assert caught.value.code is AuthCode.UNSUPPORTED_CHAIN


def test_web3auth_negative_signatures_fail() -> None:
    vectors = _load("web3auth-siws/validation_negative.json")
    for name in ("malformed signature", "wrong signature"):
        fields = vectors[name]["payload"]
        with pytest.raises(SiwxRejected) as caught:
            verify_solana(eip4361_text(fields, "Solana").encode(), fields["address"], vectors[name]["signature"]["s"])
        assert caught.value.code is AuthCode.INVALID_SIGNATURE
