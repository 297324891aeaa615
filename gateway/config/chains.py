"""The CAIP-2 chain-id grammar (`eip155:1`, `solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp`).

Here, below the `auth:` section that validates its `chains:` with it; the verifier
(gateway/auth/chains.py) reads the ids clients write with the same grammar.
EVM: `1` or `eip155:1` (canonical decimal, no leading zero). Solana: the 32-char CAIP-2 reference,
`solana:<ref>`, the full genesis hash (43-44 chars; CAIP-2 keeps its first 32), or a cluster name
`mainnet` / `devnet` / `testnet` with or without `solana:`.
"""

from __future__ import annotations

import re
from typing import Literal

Namespace = Literal["eip155", "solana"]

SOLANA_CLUSTERS = {
    "mainnet": "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    "devnet": "EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "testnet": "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
}
_EVM_ID = re.compile(r"[1-9][0-9]{0,19}")
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")


def canonical_chain(raw: str, namespace: Namespace) -> str | None:
    """The CAIP-2 id for `raw` as written in a message whose header word names `namespace`; None
    when it is not one we verify."""
    if namespace == "eip155":
        reference = raw.removeprefix("eip155:")
        if _EVM_ID.fullmatch(reference):
            return f"eip155:{reference}"
    else:
        reference = raw.removeprefix("solana:")
        if reference in SOLANA_CLUSTERS:
            return f"solana:{SOLANA_CLUSTERS[reference]}"
        if _BASE58.fullmatch(reference) and (len(reference) == 32 or 43 <= len(reference) <= 44):
            return f"solana:{reference[:32]}"
    return None


def caip2_namespace(caip2: str) -> Namespace:
    """The namespace of a configured CAIP-2 id; raises ValueError when it is not one we verify."""
    namespace, sep, reference = caip2.partition(":")
    if not sep or namespace not in ("eip155", "solana"):
        raise ValueError(f"{caip2!r} is not an eip155:<id> or solana:<ref> CAIP-2 id")
    result: Namespace = "eip155" if namespace == "eip155" else "solana"
    canonical = canonical_chain(reference, result)
    if canonical is None:
        raise ValueError(f"{caip2!r} is not a valid CAIP-2 id")
    if canonical != caip2:
        raise ValueError(f"{caip2!r} is not canonical; write {canonical!r}")
    return result
