"""Step 9: EVM (EIP-191, low-s, v forms, contract wallets) and Solana (ed25519) signatures."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.auth import AuthCode
from gateway.auth.message import format_message
from gateway.auth.signatures import SECP256K1_N, verify_evm
from tests.auth.support import EVM, EVM_OTHER, SOLANA, code_of, message, token

TEXT = format_message(message())
SIG = EVM.sign(TEXT.encode())  # 0x + r(64) + s(64) + v(2), v = 27/28


def with_v(signature: str, v: int) -> str:
    return signature[:-2] + f"{v:02x}"


def high_s_twin(signature: str) -> str:
    """(r, n - s, flipped parity): the same signature in its other, malleable encoding."""
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    v = 27 + (1 - (raw[64] - 27))
    return "0x" + raw[:32].hex() + (SECP256K1_N - s).to_bytes(32, "big").hex() + f"{v:02x}"


def test_client_signatures_are_low_s_with_v_27_or_28() -> None:
    raw = bytes.fromhex(SIG[2:])
    assert raw[64] in (27, 28) and int.from_bytes(raw[32:64], "big") <= SECP256K1_N // 2


@pytest.mark.parametrize("v_offset", [0, -27], ids=["v27/28", "v0/1"])
def test_v_forms_are_accepted(v_offset: int) -> None:
    parity = bytes.fromhex(SIG[2:])[64] - 27
    signature = with_v(SIG, 27 + parity + v_offset)
    assert verify_evm(TEXT.encode(), EVM.address, signature) == EVM.address
    assert code_of(token(TEXT, signature=signature)) is None


def test_the_other_parity_does_not_recover_the_signer() -> None:
    parity = bytes.fromhex(SIG[2:])[64] - 27
    for v in (27 + (1 - parity), 1 - parity):
        assert code_of(token(TEXT, signature=with_v(SIG, v))) is AuthCode.INVALID_SIGNATURE


@pytest.mark.parametrize("v", [2, 26, 29, 37, 38, 255])
def test_other_v_values_are_refused(v: int) -> None:
    assert code_of(token(TEXT, signature=with_v(SIG, v))) is AuthCode.INVALID_SIGNATURE


def test_high_s_twin_is_refused() -> None:
    assert code_of(token(TEXT, signature=high_s_twin(SIG))) is AuthCode.INVALID_SIGNATURE


def test_zero_r_or_s_is_refused() -> None:
    zero = "00" * 32
    assert code_of(token(TEXT, signature="0x" + zero + SIG[66:])) is AuthCode.INVALID_SIGNATURE
    assert code_of(token(TEXT, signature=SIG[:66] + zero + SIG[-2:])) is AuthCode.INVALID_SIGNATURE


def test_hex_without_0x_prefix_is_accepted() -> None:  # the AiMo Python SDK omits it
    assert code_of(token(TEXT, signature=SIG[2:])) is None


@pytest.mark.parametrize("signature", ["", "0x", "0xzz" + SIG[4:], SIG[:-1], "not hex at all", SIG.upper()])
def test_non_hex_signatures_are_invalid(signature: str) -> None:
    assert code_of(token(TEXT, signature=signature)) is AuthCode.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "signature",
    [SIG + "00", SIG[:-2], SIG + "6492" * 16, "0x" + "ab" * 200],
    ids=["66 bytes", "64 bytes", "eip-6492 suffix", "contract blob"],
)
def test_contract_wallet_shapes_are_unsupported(signature: str) -> None:
    assert code_of(token(TEXT, signature=signature)) is AuthCode.UNSUPPORTED_SIGNATURE


def test_wrong_signer_is_refused() -> None:
    assert code_of(token(TEXT, signature=EVM_OTHER.sign(TEXT.encode()))) is AuthCode.INVALID_SIGNATURE
    text = format_message(message(SOLANA))
    other = format_message(message(SOLANA, nonce="zzzzzzzz1"))
    assert code_of(token(text, signature=SOLANA.sign(other.encode()))) is AuthCode.INVALID_SIGNATURE


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(TEXT) - 1))
def test_one_flipped_byte_in_the_message_fails(index: int) -> None:
    flipped = _flip(TEXT.encode(), index).decode("latin-1")
    assert code_of(token(flipped, signature=SIG)) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=64))
def test_one_flipped_byte_in_the_evm_signature_fails(index: int) -> None:
    raw = _flip(bytes.fromhex(SIG[2:]), index)
    assert code_of(token(TEXT, signature="0x" + raw.hex())) is AuthCode.INVALID_SIGNATURE


SOL_TEXT = format_message(message(SOLANA))
SOL_SIG = SOLANA.sign(SOL_TEXT.encode())


def test_solana_signature_verifies() -> None:
    assert code_of(token(SOL_TEXT, signature=SOL_SIG)) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=63))
def test_one_flipped_byte_in_the_solana_signature_fails(index: int) -> None:
    import base58

    raw = _flip(base58.b58decode(SOL_SIG), index)
    assert code_of(token(SOL_TEXT, signature=base58.b58encode(raw).decode())) is AuthCode.INVALID_SIGNATURE


def test_a_signed_message_with_one_byte_changed_in_a_checked_field_fails_on_the_signature() -> None:
    # Nonce is free-form alphanumeric, so a change there survives steps 1-8 and must fail at step 9.
    tampered = SOL_TEXT.replace("Nonce: abcdef0123456789", "Nonce: abcdef0123456788")
    assert code_of(token(tampered, signature=SOL_SIG)) is AuthCode.INVALID_SIGNATURE
    tampered = TEXT.replace("Nonce: abcdef0123456789", "Nonce: abcdef0123456788")
    assert code_of(token(tampered, signature=SIG)) is AuthCode.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "signature", ["", "0OIl", "1" * 10, SOL_SIG + "1", "0x" + "ab" * 64], ids=["empty", "not base58", "short", "long", "hex"]
)
def test_malformed_solana_signatures(signature: str) -> None:
    assert code_of(token(SOL_TEXT, signature=signature)) is AuthCode.INVALID_SIGNATURE
