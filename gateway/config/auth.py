"""The `auth:` section of the routing YAML (spec/siwx-auth.md, "Configuration"); gateway/auth reads it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from gateway.config.chains import caip2_namespace
from gateway.config.limits import ScopeLimits

# Upper bounds on the time settings. Beyond them a setting is a typo, not a policy, and it used to
# pass check-config and then overflow the time check of every signed request. A week of lifetime is
# already a long-lived bearer credential (and a week-long replay key per request in Redis); ten
# minutes of leeway is the most any wallet needs (Phantom uses ten minutes of skew).
MAX_LEEWAY_SECONDS = 600
MAX_AGE_SECONDS = 7 * 24 * 3600
LeewaySeconds = Annotated[int, msgspec.Meta(ge=0, le=MAX_LEEWAY_SECONDS)]
AgeSeconds = Annotated[int, msgspec.Meta(ge=0, le=MAX_AGE_SECONDS)]


KeyName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class ApiKeyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One operator-issued key (spec/openai-compat.md): only the SHA-256 of the secret is stored."""

    name: KeyName
    sha256: Sha256Hex
    account: str | None = None  # the principal; default `key:<name>`
    models: list[str] = msgspec.field(default_factory=list)  # empty: every model
    expires: datetime | None = None
    # This key's own rate limit (its own bucket, shared by every replica through Redis), on top of
    # the account's; same shape as `limits.account` (rate, period_seconds, burst, cost, models).
    limits: ScopeLimits | None = None

    def __post_init__(self) -> None:
        if self.expires is not None and self.expires.tzinfo is None:
            raise ValueError(f"api_keys: {self.name}: expires needs a timezone (e.g. 2027-01-01T00:00:00Z)")
        if self.account is not None and not re.fullmatch(r"[!-~]{1,128}", self.account):
            raise ValueError(f"api_keys: {self.name}: account must be 1-128 printable characters")

    @property
    def principal_account(self) -> str:
        return self.account if self.account is not None else f"key:{self.name}"


# `auth.profile: aimo-sdk` (docs/authentication.md "The AiMo SDK"): what @aimo.network/client 1.6
# signs — no Nonce, no Issued At, Expiration Time = now + 1 h, the identical header re-sent until it
# expires, and with `siwxDomain` a URI rewritten to https://<siwxDomain>/... The profile fixes these
# settings; writing one of them with another value is a config error (check_profile).
AIMO_SDK_SETTINGS: dict[str, object] = {"replay": "session", "nonce_required": False}
AIMO_SDK_LIFETIME_SECONDS = 3600


class AuthConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    # `default`: the contract's defaults (single-use nonces). `aimo-sdk`: accept the AiMo SDK as it signs.
    profile: Literal["default", "aimo-sdk"] = "default"
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
    leeway_seconds: LeewaySeconds = 60
    max_age_seconds: AgeSeconds = 3600
    max_lifetime_seconds: AgeSeconds = 3600
    api_keys: list[ApiKeyConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # msgspec reports a ValueError raised here as a validation error at `$.auth`.
        if self.profile == "aimo-sdk":
            for name, value in AIMO_SDK_SETTINGS.items():
                msgspec.structs.force_setattr(self, name, value)
            if self.require_issued_nonce:
                raise ValueError(
                    "profile: aimo-sdk signs without a nonce; require_issued_nonce must be false"
                )
            if min(self.max_lifetime_seconds, self.max_age_seconds) < AIMO_SDK_LIFETIME_SECONDS:
                raise ValueError(
                    "profile: aimo-sdk signs for 1 hour; max_lifetime_seconds and max_age_seconds must be >= 3600"
                )
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
        names = [key.name for key in self.api_keys]
        if len(set(names)) != len(names):
            raise ValueError("api_keys: key names must be unique")
        digests = [key.sha256 for key in self.api_keys]
        if len(set(digests)) != len(digests):
            raise ValueError("api_keys: two keys have the same sha256")


def check_profile(raw: object) -> tuple[str, str] | None:
    """(YAML path, reason) when the raw `auth:` mapping sets a value its profile overrides."""
    if not isinstance(raw, dict) or raw.get("profile") != "aimo-sdk":
        return None
    for name, value in AIMO_SDK_SETTINGS.items():
        if name in raw and raw[name] != value:
            shown = str(value).lower() if isinstance(value, bool) else value
            return f"auth.{name}", f"profile: aimo-sdk sets {name}: {shown} (remove the line or the profile)"
    return None


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
