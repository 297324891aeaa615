"""Steps 4-8: domain, URI, version, chain, address, time and nonce rules. Pure: no I/O, `now` is given.

`AuthPolicy` is the resolved `auth:` config: explicit `domains` / `origins`, or — when empty — the
ones derived from the address `imagegate serve` listens on (local development).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from gateway.auth.chains import HEADER_WORDS, Namespace, normalise_chain
from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.auth.message import SiwxMessage
from gateway.auth.signatures import is_valid_evm_address, solana_public_key
from gateway.config.auth import AuthConfig

_NONCE = re.compile(r"[A-Za-z0-9]{8,128}")
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = {"127.0.0.1", "localhost", "0.0.0.0", "::", "::1"}


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    config: AuthConfig
    domains: frozenset[str]  # lower-cased host[:port]
    origins: frozenset[tuple[str, str, int]]  # (scheme, host, port)
    primary_domain: str
    primary_origin: str
    challenge: str  # the WWW-Authenticate value of every 401

    @classmethod
    def build(cls, config: AuthConfig, *, host: str = "127.0.0.1", port: int = 8000) -> AuthPolicy:
        domains = config.domains or derived_domains(host, port)
        origins = config.origins or [f"http://{domain}" for domain in derived_domains(host, port)]
        if config.profile == "aimo-sdk":  # its `siwxDomain` option rewrites the URI to https://<domain>/...
            origins = [*origins, *(f"https://{domain}" for domain in domains)]
        parsed = frozenset(o for o in (origin_of(origin) for origin in origins) if o is not None)
        challenge = (
            f'SIWX realm="imagegate", domain="{domains[0]}", uri="{origins[0]}", '
            f'chains="{" ".join(config.chains)}"'
        )
        return cls(config, frozenset(d.lower() for d in domains), parsed, domains[0], origins[0], challenge)


def derived_domains(host: str, port: int) -> list[str]:
    """`127.0.0.1:8000` -> ["localhost:8000", "127.0.0.1:8000"]; other hosts name themselves."""
    hosts = ["localhost", "127.0.0.1"] if host in _LOOPBACK else [host]
    authorities = [f"{h}:{port}" for h in hosts]
    if port == 80:
        authorities += hosts
    return authorities


def origin_of(uri: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an absolute http(s) URI without userinfo, else None."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def check_binding(message: SiwxMessage, policy: AuthPolicy) -> tuple[Namespace, str]:
    """Steps 4-7; returns (namespace, CAIP-2 chain id)."""
    domain = message.domain.lower()
    if domain not in policy.domains or "@" in domain:
        raise SiwxRejected(AuthCode.DOMAIN_MISMATCH, "the message is for another domain")
    if message.scheme == "http" and not any(
        origin_of(f"http://{domain}") == origin for origin in policy.origins
    ):
        raise SiwxRejected(AuthCode.DOMAIN_MISMATCH, "the message's domain scheme is not allowed")
    if origin_of(message.uri) not in policy.origins:
        hint = _aimo_hint(message, policy) if message.uri.startswith(f"https://{domain}/") else ""
        raise SiwxRejected(AuthCode.URI_MISMATCH, "the message's URI is not on this gateway's origin" + hint)
    if message.version != "1":
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "Version must be 1")
    namespace = HEADER_WORDS[message.account_word]
    chain = normalise_chain(message.chain_id, namespace)
    if chain not in policy.config.chains:
        raise SiwxRejected(AuthCode.UNSUPPORTED_CHAIN, f"chain {chain} is not accepted here")
    if namespace == "eip155" and not is_valid_evm_address(message.address):
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "address is not a valid (EIP-55) EVM address")
    if namespace == "solana" and solana_public_key(message.address) is None:
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "address is not a 32-byte base58 key")
    return namespace, chain


def parse_time(value: str, field: str) -> datetime:
    """RFC 3339 date-time with a mandatory offset; anything else is `auth_invalid_message`."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, f"{field} is not an RFC 3339 date-time")
    date, clock, fraction, offset = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{micros}{zone}")
    except ValueError as exc:
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, f"{field} is not a real date-time") from exc


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (UTC), for any aware datetime from year 1 to 9999 at any offset.

    Computed on naive datetimes and timedeltas, whose range covers every RFC 3339 time: converting
    `9999-12-31T23:59:59-12:00` to UTC (or adding a leeway to it) would leave datetime's range and
    raise OverflowError, so no arithmetic on a client-supplied time is done with aware datetimes."""
    offset = moment.utcoffset() or timedelta(0)
    return ((moment.replace(tzinfo=None) - _EPOCH) - offset) // _MS


def check_time_and_nonce(message: SiwxMessage, policy: AuthPolicy, now: datetime) -> int:
    """Step 8 (time bounds, then the nonce); returns the expiration time in epoch ms, which the replay
    key outlives by the leeway. All comparisons are on integers: client times cannot overflow them."""
    config = policy.config
    leeway, max_age, max_lifetime = (
        1000 * s for s in (config.leeway_seconds, config.max_age_seconds, config.max_lifetime_seconds)
    )
    single_use = config.replay == "single_use"
    if message.issued_at is None and single_use:
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "Issued At is required" + _aimo_hint(message, policy))
    if message.expiration_time is None:
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "Expiration Time is required")
    now_ms = epoch_ms(now)
    expires = epoch_ms(parse_time(message.expiration_time, "Expiration Time"))
    issued = epoch_ms(parse_time(message.issued_at, "Issued At")) if message.issued_at is not None else None
    not_before = (
        epoch_ms(parse_time(message.not_before, "Not Before")) if message.not_before is not None else None
    )
    if issued is not None and issued > now_ms + leeway:
        raise SiwxRejected(AuthCode.ISSUED_IN_FUTURE, "Issued At is in the future")
    if issued is not None and now_ms - issued > max_age + leeway:
        raise SiwxRejected(AuthCode.EXPIRED, "Issued At is too old")
    if now_ms >= expires + leeway:
        raise SiwxRejected(AuthCode.EXPIRED, "the message has expired")
    # Without Issued At (the AiMo SDK) the lifetime is counted from our clock, so the client's clock
    # skew counts against it: allow the leeway there, as every other comparison with `now` does.
    lifetime_from, allowed = (issued, max_lifetime) if issued is not None else (now_ms, max_lifetime + leeway)
    if expires - lifetime_from > allowed:
        raise SiwxRejected(AuthCode.LIFETIME_TOO_LONG, "Expiration Time is too far after Issued At")
    if not_before is not None and not_before > now_ms + leeway:
        raise SiwxRejected(AuthCode.NOT_YET_VALID, "the message is not valid yet (Not Before)")
    if message.nonce is not None and not _NONCE.fullmatch(message.nonce):
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "Nonce must be 8 to 128 letters and digits")
    if message.nonce is None and (single_use or config.nonce_required or config.require_issued_nonce):
        raise SiwxRejected(AuthCode.INVALID_MESSAGE, "Nonce is required" + _aimo_hint(message, policy))
    return expires


def looks_like_aimo_sdk(message: SiwxMessage) -> bool:
    """What @aimo.network/client signs: no statement, Nonce or Issued At; an Expiration Time; a CAIP-2 Chain ID."""
    return (
        message.nonce is None
        and message.issued_at is None
        and message.statement is None
        and message.expiration_time is not None
        and ":" in message.chain_id
    )


def _aimo_hint(message: SiwxMessage, policy: AuthPolicy) -> str:
    """The setting to name in a 401 when the refused message looks like the AiMo SDK's."""
    if policy.config.profile == "aimo-sdk" or not looks_like_aimo_sdk(message):
        return ""
    return (
        ". This looks like the AiMo SDK (@aimo.network/client), which signs without Nonce and Issued At"
        " and re-sends one header for an hour: the gateway operator must set `auth.profile: aimo-sdk`"
        " in the routing YAML (docs/authentication.md)"
    )
