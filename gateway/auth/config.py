"""The `auth:` section of the routing YAML (spec/siwx-auth.md, "Configuration")."""

from __future__ import annotations

from typing import Literal

import msgspec


class AuthConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    # Public authorities (host[:port]) and origins (scheme://host[:port]) a message may name.
    # Empty: derived at start-up from the address `imagegate serve` listens on (local development).
    domains: list[str] = msgspec.field(default_factory=list)
    origins: list[str] = msgspec.field(default_factory=list)
    chains: list[str] = msgspec.field(
        default_factory=lambda: ["eip155:1", "eip155:8453", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"]
    )
    replay: Literal["single_use", "session"] = "single_use"
    nonce_required: bool = True
    require_issued_nonce: bool = False
    leeway_seconds: int = 60
    max_age_seconds: int = 3600
    max_lifetime_seconds: int = 3600
