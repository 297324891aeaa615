"""Chain ids as real clients write them -> CAIP-2 (`eip155:1`, `solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp`).

The grammar lives with the `auth:` config section (gateway/config/chains.py), which validates its
`chains:` with it; here a chain id that is not one we verify is refused with the contract's code.
Anything the grammar does not know (e.g. Web3Auth's `1` for Solana) is unsupported.
"""

from __future__ import annotations

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.config.chains import Namespace, canonical_chain

__all__ = ["HEADER_WORDS", "Namespace", "normalise_chain"]

HEADER_WORDS: dict[str, Namespace] = {"Ethereum": "eip155", "Solana": "solana"}


def normalise_chain(raw: str, namespace: Namespace) -> str:
    """The CAIP-2 id for `raw` as written in a message whose header word names `namespace`."""
    canonical = canonical_chain(raw, namespace)
    if canonical is None:
        raise SiwxRejected(AuthCode.UNSUPPORTED_CHAIN, f"chain id not supported for {namespace} accounts")
    return canonical
