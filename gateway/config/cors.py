"""`server.cors`: which browser origins may call the API (docs/browser.md). Read at start-up."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

# What our clients send: the SIWX header, API keys, JSON bodies, idempotency keys, x402 payments, and
# `Access-Control-Expose-Headers`, which the x402 fetch wrapper puts on its requests.
DEFAULT_ALLOW_HEADERS = [
    "Sign-In-With-X",
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "PAYMENT-SIGNATURE",
    "Access-Control-Expose-Headers",
]
# Response headers a page may read (the browser hides every other non-safelisted header).
DEFAULT_EXPOSE_HEADERS = [
    "X-Request-Id",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "PAYMENT-RESPONSE",
    "Idempotent-Replayed",
    "Location",
    "WWW-Authenticate",
]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")]


class CorsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Exact origins (scheme://host[:port]); empty: no cross-origin access at all. `*` allows any
    # origin (credentials are never allowed: the SIWX header is not a cookie).
    allow_origins: list[str] = msgspec.field(default_factory=list)
    allow_methods: list[Method] = msgspec.field(default_factory=lambda: ["GET", "POST", "OPTIONS"])
    allow_headers: list[HeaderName] = msgspec.field(default_factory=lambda: list(DEFAULT_ALLOW_HEADERS))
    expose_headers: list[HeaderName] = msgspec.field(default_factory=lambda: list(DEFAULT_EXPOSE_HEADERS))
    max_age_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 600

    def __post_init__(self) -> None:
        for origin in self.allow_origins:
            if origin != "*" and not _is_origin(origin):
                raise ValueError(
                    f"cors.allow_origins: {origin!r} is not a lower-case scheme://host[:port] origin (or *)"
                )


def _is_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and parts.path == ""
        and not parts.query
        and not parts.fragment
        and origin == origin.lower()
    )
