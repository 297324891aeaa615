"""Step 9: signatures over the exact message bytes.

EVM: EIP-191 `personal_sign`, public-key recovery with coincurve (libsecp256k1) directly. Exactly 65
bytes `r || s || v`, `v` in {27, 28, 0, 1}, `0 < r < n`, `0 < s <= n/2` (low-s: one message has one
encoding). Other lengths and EIP-6492 wrapped signatures are contract wallets, which need an RPC to
the chain: `auth_unsupported_signature`. Solana: ed25519 (PyNaCl) with the address's 32-byte key.
"""

from __future__ import annotations

import functools
import re

import base58
import coincurve
from eth_hash.auto import keccak
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from gateway.auth.codes import AuthCode, SiwxRejected

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_EIP6492_SUFFIX = bytes.fromhex("6492" * 16)
_HEX = re.compile(r"(?:0x)?((?:[0-9a-fA-F]{2})*)")
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
EVM_RECOVERY_BACKEND = coincurve.PublicKey.from_signature_and_message.__module__


def _bad(reason: str) -> SiwxRejected:
    return SiwxRejected(AuthCode.INVALID_SIGNATURE, reason)


def eip191_digest(message: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n" + len + message): what personal_sign signs."""
    return bytes(keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message))


# The two address helpers below are pure and cost 30-80 us each in Python (EIP-55's per-character
# walk; base58's big-int loop): an account signs many requests, so they are memoised per address.
_ADDRESSES_REMEMBERED = 4096


@functools.lru_cache(maxsize=_ADDRESSES_REMEMBERED)
def checksum_address(address: str) -> str:
    """EIP-55 mixed-case form of a `0x` + 40 hex address."""
    lower = address[2:].lower()
    hashed = bytes(keccak(lower.encode("ascii"))).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(lower, hashed[:40], strict=True))


def is_valid_evm_address(address: str) -> bool:
    """`0x` + 40 hex; mixed case must be the EIP-55 checksum, all-lower / all-upper are accepted."""
    if not _HEX_ADDRESS.fullmatch(address):
        return False
    body = address[2:]
    return body == body.lower() or body == body.upper() or address == checksum_address(address)


def decode_evm_signature(signature: str) -> tuple[bytes, int]:
    """(r || s, recovery id 0/1) of a canonical 65-byte signature; raises SiwxRejected otherwise."""
    match = _HEX.fullmatch(signature)
    if match is None or not match.group(1):
        raise _bad("EVM signature must be hex")
    raw = bytes.fromhex(match.group(1))
    if len(raw) != 65 or raw.endswith(_EIP6492_SUFFIX):
        raise SiwxRejected(
            AuthCode.UNSUPPORTED_SIGNATURE,
            "only 65-byte EOA signatures are supported (contract-wallet signatures need an RPC verifier)",
        )
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (0, 1, 27, 28):
        raise _bad("EVM signature recovery byte must be 27, 28, 0 or 1")
    if not 0 < r < SECP256K1_N or not 0 < s <= _HALF_N:
        raise _bad("EVM signature must be canonical (low-s)")
    return raw[:64], v % 27 if v >= 27 else v


def recover_evm_address(message: bytes, signature: str) -> str:
    """The checksummed address that signed `message` (EIP-191)."""
    rs, recovery_id = decode_evm_signature(signature)
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            rs + bytes([recovery_id]), eip191_digest(message), hasher=None
        )
    except (ValueError, TypeError) as exc:
        raise _bad("EVM signature does not recover a public key") from exc
    uncompressed = public.format(compressed=False)
    return checksum_address("0x" + bytes(keccak(uncompressed[1:]))[-20:].hex())


def verify_evm(message: bytes, address: str, signature: str) -> str:
    """Raise unless `signature` is `address`'s personal_sign of `message`; the checksummed address."""
    recovered = recover_evm_address(message, signature)
    if recovered.lower() != address.lower():
        raise _bad("signature was not made by the message's address")
    return recovered


# base58 of 32 bytes is 32 to 44 characters: anything else is refused before it is decoded or
# remembered (the address is read before the signature is checked: an outsider chooses it).
_SOLANA_ADDRESS_CHARS = range(32, 45)


def solana_public_key(address: str) -> bytes | None:
    """The 32-byte ed25519 key of a base58 address, or None when it is not one."""
    return _solana_key(address) if len(address) in _SOLANA_ADDRESS_CHARS else None


@functools.lru_cache(maxsize=_ADDRESSES_REMEMBERED)
def _solana_key(address: str) -> bytes | None:
    try:
        key = base58.b58decode(address.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return key if len(key) == 32 and base58.b58encode(key).decode() == address else None


def verify_solana(message: bytes, address: str, signature: str) -> str:
    """Raise unless `signature` (base58, 64 bytes) is `address`'s ed25519 signature of `message`."""
    key = solana_public_key(address)
    if key is None:
        raise _bad("Solana address is not a 32-byte base58 key")
    try:
        raw = base58.b58decode(signature.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise _bad("Solana signature must be base58") from exc
    if len(raw) != 64:
        raise _bad("Solana signature must be 64 bytes")
    try:
        VerifyKey(key).verify(message, raw)
    except (CryptoError, ValueError, TypeError) as exc:
        raise _bad("signature was not made by the message's address") from exc
    return address
