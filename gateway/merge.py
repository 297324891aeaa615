"""What the merge of shard outcomes (gateway/generation.py `finish`) needs besides the images:
the client-facing error for failures (`error_for`) and the provider body fit for a response
(`scrub`)."""

from __future__ import annotations

import re

from gateway import upstream
from gateway.errors import (
    ContentPolicyViolation,
    FailureClass,
    GatewayError,
    InvalidRequest,
    ProviderCapacity,
    ProviderError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from gateway.routing.executor import GATEWAY

_SKIPPED = {FailureClass.CIRCUIT_OPEN, FailureClass.CAPACITY, FailureClass.RATE_LIMITED}


def error_for(failures: list[ProviderError]) -> GatewayError:
    """The client-facing error for a request (or shard) that produced nothing (spec/routing-policy.md).

    Precedence: a content-policy refusal; an unknown outcome or a passed deadline that ended the
    chain (504); a request the provider called invalid (400); only skips / 429s (503 with
    Retry-After); anything else is 502 naming the last failure class, never the provider's body.
    """
    if not failures:
        return UpstreamError("no provider produced an image")
    classes = {failure.failure for failure in failures}
    last = failures[-1]
    if FailureClass.CONTENT_POLICY in classes:
        return ContentPolicyViolation("the provider's safety system rejected this request")
    if last.failure in (FailureClass.DEADLINE, FailureClass.AMBIGUOUS):
        return UpstreamTimeout("the request deadline passed or the upstream outcome is unknown")
    if FailureClass.CALLER_FAULT in classes:
        fault = next(f for f in failures if f.failure is FailureClass.CALLER_FAULT)
        return InvalidRequest(f"the provider rejected the request: {fault.message}")
    if classes <= _SKIPPED:
        return _unavailable(failures, classes)
    if last.provider == GATEWAY:  # no route at all (e.g. every provider disabled): say why
        return UpstreamError(last.message)
    return UpstreamError(f"every attempt failed; last failure: {last.failure.value} from {last.provider}")


def _unavailable(failures: list[ProviderError], classes: set[FailureClass]) -> GatewayError:
    waits = [f.retry_after for f in failures if f.retry_after is not None and f.retry_after > 0]
    retry_after = max(1.0, min(waits)) if waits else 1.0
    if classes == {FailureClass.RATE_LIMITED}:
        return UpstreamRateLimited("every route is rate-limited upstream", retry_after=retry_after)
    if FailureClass.CAPACITY in classes:
        return ProviderCapacity("no provider capacity freed in time", retry_after=retry_after)
    if FailureClass.RATE_LIMITED in classes:
        return UpstreamRateLimited("every open route is rate-limited upstream", retry_after=retry_after)
    return ServiceUnavailable("every route of this model is temporarily disabled", retry_after=retry_after)


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
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


# What `provider_metadata.raw` may carry: it is for debugging, and a provider decides its size.
RAW_MAX_STRING = 4096  # chars; longer strings keep RAW_KEPT_PREFIX chars and say how many were cut
RAW_KEPT_PREFIX = 256
RAW_MAX_ITEMS = 64  # list items and object keys per level
RAW_MAX_DEPTH = 16


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
        return upstream.redact(_AUTH_SCHEME.sub(r"\1 <redacted>", value), [])
    return value
