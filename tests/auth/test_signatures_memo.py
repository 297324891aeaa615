"""The address helpers are memoised, and only for strings that can be addresses."""

from __future__ import annotations

import base58

from gateway.auth.signatures import _solana_key, checksum_address, solana_public_key


def test_a_solana_address_is_remembered_and_junk_is_not() -> None:
    key = bytes(range(32))
    address = base58.b58encode(key).decode()
    _solana_key.cache_clear()
    assert solana_public_key(address) == key and solana_public_key(address) == key
    assert _solana_key.cache_info().hits == 1
    assert solana_public_key("1" * 4000) is None and solana_public_key("") is None
    assert _solana_key.cache_info().currsize == 1  # an outsider's long junk never enters the cache


def test_checksums_are_the_eip55_ones() -> None:
    # EIP-55's own examples
    for address in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"):
        assert checksum_address(address.lower()) == address
