"""Redaction: what of a provider's body or text may be shown, in `provider_metadata.raw` or a log.

One home for it. Adapters elide base64 blobs and signed URLs as they build `raw` (`elide_base64`,
`redact_url`); the gateway bounds and scrubs `raw` once more before it reaches a response (`scrub`);
`redact` removes key-shaped strings from provider text (error details, operator alerts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_BASE64_RUN = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")
_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,", re.IGNORECASE)
_KEY_SHAPED = re.compile(r"\b(sk|pk|key|bfl)[-_][A-Za-z0-9*_-]{6,}")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_SECRET_KEYS = {
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "x-key",
    "key",
    "secret",
    "token",
    "password",
}
_SECRET_SUFFIXES = ("_key", "_key_id", "_secret", "_token", "_password")
ELIDE_MIN_CHARS = 256
BLOB_KEYS = frozenset({"b64_json", "images", "image", "current_image", "preview", "bytesBase64Encoded"})

# What `provider_metadata.raw` may carry: it is for debugging, and a provider decides its size.
RAW_MAX_STRING = 4096  # chars; longer strings keep RAW_KEPT_PREFIX chars and say how many were cut
RAW_KEPT_PREFIX = 256
RAW_MAX_ITEMS = 64  # list items and object keys per level
RAW_MAX_DEPTH = 16


def elide_base64(value: object, blob_keys: frozenset[str] = BLOB_KEYS) -> object:
    """A copy of a JSON value with base64 blobs replaced by a short marker (the bytes are in `images`).

    Strings under a known blob key are elided whatever their length; elsewhere any long string that
    looks like base64 or a data URL is.
    """
    if isinstance(value, dict):
        return {k: _elide_blob(v) if k in blob_keys else elide_base64(v, blob_keys) for k, v in value.items()}
    if isinstance(value, list):
        return [elide_base64(v, blob_keys) for v in value]
    long_blob = isinstance(value, str) and len(value) >= ELIDE_MIN_CHARS
    if long_blob and (_DATA_URL.match(str(value)) or _BASE64_RUN.match(str(value)[:4096])):
        return _marker(str(value))
    return value


def _elide_blob(value: object) -> object:
    if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
        return _marker(value)
    if isinstance(value, list):
        return [_elide_blob(v) for v in value]
    return elide_base64(value)


def _marker(value: str) -> str:
    return f"<base64 elided: {len(value)} chars>"


def redact_url(url: str) -> str:
    """A URL safe to report: query string and userinfo removed (signed URLs carry their signature there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def raw_view(payload: object) -> dict[str, object]:
    """A provider body as an adapter reports it in `raw`: base64 elided and every http(s) URL
    redacted (signed result and polling URLs carry their signature in the query); a body that is
    not a JSON object is kept under `body`."""
    raw = _redact_urls(elide_base64(payload))
    return raw if isinstance(raw, dict) else {"body": raw}


def _redact_urls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _redact_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_urls(v) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return redact_url(value)
    return value


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove known secret values and anything shaped like an API key from provider text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return _KEY_SHAPED.sub("<redacted>", text)


def scrub(value: object, depth: int = 0) -> object:
    """A provider body fit for a response: credential-looking keys dropped, URL query strings
    (signatures) cut, and bounded (long strings, long lists, wide or deep objects elided). Base64
    payloads are already elided by the adapters."""
    if depth > RAW_MAX_DEPTH and isinstance(value, dict | list):
        return "<elided: nested too deep>"
    if isinstance(value, dict):
        kept = [
            (key, item)
            for key, item in value.items()
            if str(key).lower() not in _SECRET_KEYS and not str(key).lower().endswith(_SECRET_SUFFIXES)
        ]
        scrubbed = {str(key)[:RAW_KEPT_PREFIX]: scrub(item, depth + 1) for key, item in kept[:RAW_MAX_ITEMS]}
        if len(kept) > RAW_MAX_ITEMS:
            scrubbed["<elided>"] = f"{len(kept) - RAW_MAX_ITEMS} more keys"
        return scrubbed
    if isinstance(value, list):
        items = [scrub(item, depth + 1) for item in value[:RAW_MAX_ITEMS]]
        if len(value) > RAW_MAX_ITEMS:
            items.append(f"<elided: {len(value) - RAW_MAX_ITEMS} more items>")
        return items
    if isinstance(value, str) and len(value) > RAW_MAX_STRING:
        value = f"{value[:RAW_KEPT_PREFIX]}... <elided: {len(value)} chars>"
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        return value.split("?", 1)[0]
    if isinstance(value, str):  # a provider may echo a credential inside text
        return redact(_AUTH_SCHEME.sub(r"\1 <redacted>", value), [])
    return value
