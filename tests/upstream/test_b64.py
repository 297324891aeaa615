"""gateway.b64 is at least as strict as binascii's strict mode, and agrees with it on what it takes."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.b64 import b64decode, b64encode


@given(st.text(alphabet="ABCDabcd0189+/=-_ \n\x00é", max_size=24))
def test_decode_takes_only_what_strict_binascii_takes(text: str) -> None:
    try:
        ours: bytes | None = b64decode(text.encode("utf-8"))
    except (binascii.Error, ValueError):
        ours = None
    if ours is not None:
        assert binascii.a2b_base64(text.encode("utf-8"), strict_mode=True) == ours


@given(st.binary(max_size=300))
def test_round_trip_matches_the_standard_library(data: bytes) -> None:
    assert b64encode(data) == base64.b64encode(data).decode("ascii")
    assert b64decode(b64encode(data)) == data


@pytest.mark.parametrize("text", ["QQ=", "QQ", "=QQ=", "QQ==QQ==", "QQ=a", "QU JD", "QUJD\n", "-_-_", "QUJD===="])
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(binascii.Error):
        b64decode(text)
