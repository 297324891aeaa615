"""Operator API keys and the one-credential order of spec/openai-compat.md ("Authentication on every
route"): `Sign-In-With-X` first (then `Authorization` is ignored: the AiMo SDK sends `Bearer siwx`
beside it), then a bearer SIWX token (only under `replay: session`), then a bearer API key.

The key list is read from the config the request was admitted by, so a reload that removes a key
revokes it on the next request. Secrets are compared as SHA-256 digests with hmac.compare_digest
over every configured key (no early exit on a match), so timing says nothing about which key is near.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime

from litestar.datastructures import Headers

from gateway.auth.codes import SiwxRejected
from gateway.auth.envelope import HEADER_NAME, decode_envelope
from gateway.auth.principal import Authenticator, Principal
from gateway.config.auth import ApiKeyConfig, AuthConfig
from gateway.errors import AuthError, ModelNotAllowed
from gateway.metrics import AUTH_FAILURES, AUTH_SUCCESSES

log = logging.getLogger("imagegate.auth")

INVALID_KEY = "auth_invalid_key"
KEY_CHAIN = "apikey"  # Principal.chain of a key's principal: not anonymous, not a wallet
SECRET_PREFIX = "igk_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_entry(name: str, secret: str) -> str:
    """The YAML list item to paste under `auth.api_keys`."""
    return f"    - name: {name}\n      sha256: {digest(secret)}\n      # account: key:{name}\n      # models: [mock]\n"


def bearer(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(INVALID_KEY, "Authorization must be `Bearer <api key>`")
    return token.strip()


def find_key(keys: list[ApiKeyConfig], secret: str) -> ApiKeyConfig | None:
    wanted = bytes.fromhex(digest(secret))
    found: ApiKeyConfig | None = None
    for key in keys:  # every key, every time: constant in the position of the match
        if hmac.compare_digest(wanted, bytes.fromhex(key.sha256)):
            found = key
    return found


def _looks_siwx(token: str) -> bool:
    try:
        decode_envelope(token)
    except SiwxRejected:
        return False
    return True


async def authenticate(
    headers: Headers,
    client_ip: str,
    config: AuthConfig,
    authenticator: Authenticator,
    model_names: tuple[str, ...],
    *,
    now: datetime | None = None,
) -> Principal:
    """The request's principal. `model_names`: the requested name and its canonical slug (a key's
    `models` may list either)."""
    if headers.get(HEADER_NAME) is not None:
        return await authenticator.authenticate(headers, client_ip)
    if not config.enabled:
        # Authentication off (local development): every request is anonymous, as before keys
        # existed; an Authorization header a proxy or an SDK adds must not start failing.
        return await authenticator.authenticate(headers, client_ip)
    token = bearer(headers)
    if token is None:
        return await authenticator.authenticate(headers, client_ip)
    if config.replay == "session" and _looks_siwx(token):
        return await authenticator.authenticate(Headers({HEADER_NAME: token}), client_ip)
    key = find_key(config.api_keys, token)
    when = now or datetime.now(UTC)
    if key is None or (key.expires is not None and key.expires <= when):
        AUTH_FAILURES.labels(INVALID_KEY).inc()
        log.info("auth rejected: %s (client %s)", INVALID_KEY, client_ip)
        raise AuthError(INVALID_KEY, "the API key is not valid (unknown, revoked or expired)")
    if key.models and not any(name in key.models for name in model_names):
        AUTH_FAILURES.labels(ModelNotAllowed.code).inc()
        raise ModelNotAllowed(f"API key {key.name!r} is not allowed model {model_names[0]!r}")
    AUTH_SUCCESSES.labels(KEY_CHAIN).inc()
    return Principal(account=key.principal_account, chain=KEY_CHAIN, key=key.name, key_limits=key.limits)
