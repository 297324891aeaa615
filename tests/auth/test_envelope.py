"""Step 1: the header envelope — missing, oversize, not strict Base64, not a JSON object of two strings."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.auth import AuthCode, SiwxRejected
from gateway.auth.envelope import MAX_HEADER_BYTES, decode_envelope, encode_envelope
from tests.auth.support import code_of, signed


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_round_trip() -> None:
    envelope = decode_envelope(encode_envelope("hello", "0xabc"))
    assert (envelope.message, envelope.signature) == ("hello", "0xabc")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_header(value: str | None) -> None:
    assert code_of(value) is AuthCode.MISSING


MALFORMED = {
    "oversize": "A" * (MAX_HEADER_BYTES + 4),
    "not base64": "%%%not-base64%%%",
    "url-safe alphabet": b64(b'{"message": "\xfb\xff", "signature": "x"}').replace("+", "-").replace("/", "_"),
    "missing padding": b64(json.dumps({"message": "m", "signature": "ss"}).encode()).rstrip("="),
    "embedded newline": b64(json.dumps({"message": "m", "signature": "s"}).encode())[:8] + "\n" + "AAAA",
    "non-ascii": "é" + b64(b"{}"),
    "not utf-8": b64(b'{"message": "\xff", "signature": "s"}'),
    "not json": b64(b"message=hi"),
    "json array": b64(b'["message", "signature"]'),
    "json string": b64(b'"message"'),
    "missing signature": b64(json.dumps({"message": "m"}).encode()),
    "extra key": b64(json.dumps({"message": "m", "signature": "s", "x": 1}).encode()),
    "non-string message": b64(json.dumps({"message": 1, "signature": "s"}).encode()),
    "non-string signature": b64(json.dumps({"message": "m", "signature": None}).encode()),
    "duplicate key": b64(b'{"message": "a", "signature": "s", "message": "b"}'),
    "NaN constant": b64(b'{"message": "m", "signature": NaN}'),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_envelopes(name: str) -> None:
    with pytest.raises(SiwxRejected) as caught:
        decode_envelope(MALFORMED[name])
    assert caught.value.code is AuthCode.MALFORMED


def test_oversize_header_is_refused_before_any_decoding() -> None:
    valid = signed()
    padded = valid + "=" * (MAX_HEADER_BYTES - len(valid) + 1)
    assert code_of(padded) is AuthCode.MALFORMED
    assert code_of(valid) is None
