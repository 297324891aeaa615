"""The `auth:` section of the routing YAML (spec/siwx-auth.md, "Configuration")."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import msgspec

from gateway.auth.chains import caip2_namespace


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

    def __post_init__(self) -> None:
        # msgspec reports a ValueError raised here as a validation error at `$.auth`.
        for chain in self.chains:
            caip2_namespace(chain)
        if not self.chains:
            raise ValueError("chains: at least one CAIP-2 chain id is required")
        for domain in self.domains:
            if not domain or "/" in domain or "@" in domain or not domain.isascii() or " " in domain:
                raise ValueError(f"domains: {domain!r} is not a host[:port] authority")
        for origin in self.origins:
            if not _origin_shape(origin):
                raise ValueError(f"origins: {origin!r} is not scheme://host[:port] (http or https)")
        if not self.nonce_required and self.replay != "session":
            raise ValueError("nonce_required: false is only allowed with replay: session")
        if not self.nonce_required and self.require_issued_nonce:
            raise ValueError("require_issued_nonce: true needs nonce_required: true")
        if min(self.leeway_seconds, self.max_age_seconds, self.max_lifetime_seconds) < 0:
            raise ValueError("leeway_seconds, max_age_seconds and max_lifetime_seconds must be >= 0")


def _origin_shape(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )
