"""Liveness (cheap, no I/O) and readiness (store reachable, config loaded)."""

from __future__ import annotations

import msgspec
from litestar import Response, get

from gateway.api.types import HttpRequest
from gateway.services import Services
from gateway.state.base import StoreUnavailable

_ENCODER = msgspec.json.Encoder()


@get("/healthz", summary="Liveness", operation_id="healthz")
async def healthz() -> Response[bytes]:
    return Response(content=b'{"status":"ok"}', media_type="application/json")


@get("/readyz", summary="Readiness", operation_id="readyz")
async def readyz(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    store: dict[str, object] = {"kind": services.store.kind, "ok": True}
    try:
        await services.store.ping()
    except StoreUnavailable as exc:
        store.update(ok=False, error=str(exc))
    config = services.runtime.config
    body = {
        "status": "ready" if store["ok"] else "unavailable",
        "store": store,
        "config": {"models": len(config.models), "providers": len(services.runtime.adapters)},
        # deployments skipped by their circuit breaker, and providers disabled for missing credentials
        "routing": {"circuits": services.router.breakers.snapshot(), "disabled": sorted(services.runtime.disabled)},
    }
    return Response(
        content=_ENCODER.encode(body), status_code=200 if store["ok"] else 503, media_type="application/json"
    )
