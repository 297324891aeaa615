"""`server.cors` -> Litestar's CORSConfig (docs/browser.md). None when no origin is allowed: then no
response carries CORS headers and every cross-origin preflight fails in the browser."""

from __future__ import annotations

import msgspec
from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.types import Message, Scope

from gateway.config.cors import CorsConfig


def cors_config(config: CorsConfig) -> CORSConfig | None:
    if not config.allow_origins:
        return None
    return CORSConfig(
        allow_origins=list(config.allow_origins),
        allow_methods=list(config.allow_methods),
        allow_headers=list(config.allow_headers),
        expose_headers=list(config.expose_headers),
        allow_credentials=False,  # the SIWX header is not a cookie: no credentials, ever
        max_age=config.max_age_seconds,
    )


_REFUSAL = b"Disallowed CORS "
_STATE_KEY = "cors_refused"


def _is_preflight(scope: Scope) -> bool:
    return scope.get("method") == "OPTIONS" and any(
        name == b"access-control-request-method" for name, _ in scope.get("headers", [])
    )


async def refused_preflight_as_error(message: Message, scope: Scope) -> None:
    """before_send hook: Litestar answers a refused preflight with a plain-text 400 ("Disallowed CORS
    Origin"); send the spec's error shape instead, naming the setting. (The browser shows the page no
    body either way; this is for people debugging with curl.)"""
    if scope["type"] != ScopeType.HTTP or not _is_preflight(scope):
        return
    state = scope.setdefault("state", {})
    if message["type"] == "http.response.start" and message["status"] == 400:
        headers = list(message.get("headers", []))
        if (b"content-type", b"text/plain; charset=utf-8") in headers:
            state[_STATE_KEY] = True
            message["headers"] = [
                (name, value) for name, value in headers if name not in (b"content-type", b"content-length")
            ] + [(b"content-type", b"application/json")]
    elif message["type"] == "http.response.body" and state.get(_STATE_KEY):
        body = bytes(message.get("body", b""))
        if body.startswith(_REFUSAL):
            what = body[len(_REFUSAL) :].decode("ascii", "replace").lower()
            message["body"] = msgspec.json.encode(
                {
                    "error": {
                        "code": "invalid_request",
                        "message": f"CORS preflight refused ({what}): allowed by server.cors"
                        " (allow_origins, allow_methods, allow_headers) in the routing YAML",
                    }
                }
            )
