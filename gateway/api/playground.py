"""GET /playground (docs/browser.md): one static page, shipped in the package, that signs with an
injected wallet and calls the public API. Served only when `server.playground` is true (read at
start-up); the bundled development config turns it on, the production files under deploy/ off."""

from __future__ import annotations

from importlib.resources import files

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from gateway.config.providers import ServerConfig

PAGE = files("gateway").joinpath("static/playground.html").read_bytes()
# The page's own script and style are inline; everything it fetches is the gateway's public API,
# on this origin or on the one given in ?gateway= (connect-src *: the operator's CORS decides).
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@get("/playground", include_in_schema=False, sync_to_thread=False)
def playground() -> Response[bytes]:
    return Response(
        PAGE,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


def playground_routes(server: ServerConfig) -> list[HTTPRouteHandler]:
    return [playground] if server.playground else []
