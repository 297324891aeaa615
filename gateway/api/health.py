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
    limits = await services.limits.status()  # Redis for rate limits and leases (may be the store's)
    # Rate limits degrade to per-process without Redis, unless `limits.fail_closed` says otherwise.
    ready = bool(store["ok"]) and (bool(limits["ok"]) or not config.limits.fail_closed)
    body = {
        "status": "ready" if ready else "unavailable",
        "store": store,
        "limits": limits,
        "config": {
            "models": len(config.models),
            "providers": len(services.runtime.adapters),
            "rate_limits": [s for s in ("ip", "account") if getattr(config.limits, s) is not None],
            "fail_closed": config.limits.fail_closed,
        },
        # deployments skipped by their circuit breaker, and providers disabled for missing credentials
        "routing": {"circuits": services.router.breakers.snapshot(), "disabled": sorted(services.runtime.disabled)},
    }
    return Response(
        content=_ENCODER.encode(body), status_code=200 if ready else 503, media_type="application/json"
    )
