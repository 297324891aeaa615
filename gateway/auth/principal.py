"""The seam where a request becomes an authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from litestar.datastructures import Headers

from gateway.config.limits import ScopeLimits


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a CAIP-10 account such as `eip155:1:0xAbC…` (or `anonymous`)."""

    account: str
    chain: str  # CAIP-2, e.g. "eip155:1"; "" for anonymous
    key: str | None = None  # the operator API key's name, when one authenticated the request
    key_limits: ScopeLimits | None = None  # that key's own rate limit (`auth.api_keys[].limits`)

    @property
    def is_anonymous(self) -> bool:
        return self.chain == ""


ANONYMOUS = Principal(account="anonymous", chain="")


class Authenticator(Protocol):
    async def authenticate(self, headers: Headers, client_ip: str) -> Principal: ...


class AnonymousAuthenticator:
    """Used only when `auth.enabled: false` (local development, announced by a start-up warning)."""

    async def authenticate(self, headers: Headers, client_ip: str) -> Principal:
        return ANONYMOUS
