"""`server.cors` -> Litestar's CORSConfig (docs/browser.md). None when no origin is allowed: then no
response carries CORS headers and every cross-origin preflight fails in the browser."""

from __future__ import annotations

from litestar.config.cors import CORSConfig

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
