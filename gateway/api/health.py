"""Liveness (cheap, no I/O) and readiness (store accepts writes, config loaded).

Readiness writes, not pings: a Redis that answers PING may still refuse every write (`CLIENT PAUSE
... WRITE`, a full `noeviction` Redis, a read-only replica after a failover), and then every nonce
claim fails. The probe is one `SET ig:readyz:<host>:<pid> 1 PX 5000`, bounded by a deadline; the
store, rate limits and leases share one Redis client (gateway/redis/), so it answers for all three.
"""

from __future__ import annotations

import asyncio
import os
import socket

import msgspec
from litestar import Response, get

from gateway.api.types import HttpRequest
from gateway.redis import RedisBusy
from gateway.services import Services
from gateway.state.base import StoreUnavailable

_ENCODER = msgspec.json.Encoder()
# Per process: replicas never contend on one key, and the key expires on its own.
READY_KEY = f"ig:readyz:{socket.gethostname()}:{os.getpid()}"
READY_TTL_MS = 5000
# Above the store's command timeout (250 ms), well below a Kubernetes probe's timeoutSeconds (2 s).
READY_DEADLINE_S = 1.0


@get("/healthz", summary="Liveness", operation_id="healthz")
async def healthz() -> Response[bytes]:
    return Response(content=b'{"status":"ok"}', media_type="application/json")


@get("/readyz", summary="Readiness", operation_id="readyz")
async def readyz(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    store: dict[str, object] = {"kind": services.store.kind, "ok": True}
    try:
        async with asyncio.timeout(READY_DEADLINE_S):
            await services.store.set(READY_KEY, b"1", ttl_ms=READY_TTL_MS)
    except StoreUnavailable as exc:
        store.update(ok=False, error=str(exc))
    except TimeoutError:
        store.update(ok=False, error="store write timed out")
    except RedisBusy:  # every connection busy serving requests: evidence of load, not of a bad Redis
        store.update(busy=True)
    config = services.runtime.config
    # Rate limits and leases use the store's Redis client: the one write above answers for them.
    limits = services.limits.status(store)
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
