"""GET /metrics, and the ASGI middleware that measures every routed request.

The middleware counts REQUESTS / REQUEST_DURATION / IN_FLIGHT by the route's path template (never
the raw path) and the canonical model the handler resolved (`other` for anything unknown), and
writes the rate-limit headers of the policies the handler evaluated. With several workers
(PROMETHEUS_MULTIPROC_DIR set) /metrics aggregates every worker's files with a MultiProcessCollector.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from typing import Any

from litestar import Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from gateway.config import RoutingConfig
from gateway.limits.service import STATE_KEY, ratelimit_headers
from gateway.metrics import (
    CIRCUIT_STATE,
    CONFIG_RELOADS,
    EDGE_REASONS,
    EDGE_REJECTIONS,
    IN_FLIGHT,
    LEASES_IN_USE,
    RATE_LIMITED,
    REQUEST_DURATION,
    REQUESTS,
    RETRY_BUDGET_EXHAUSTED,
    UPSTREAM_ATTEMPTS,
    UPSTREAM_LATENCY,
)

MODEL_KEY = "metrics_model"


def set_metrics_model(state: MutableMapping[str, Any], model: str) -> None:
    """The handler names the canonical model it served (a configured slug, or `other`)."""
    state[MODEL_KEY] = model


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        route = scope.get("path_template") or "other"
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        status = 500
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = ratelimit_headers(state.get(STATE_KEY, []))
                if extra:
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        in_flight = IN_FLIGHT.labels(route)
        in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            in_flight.dec()
            model = state.get(MODEL_KEY, "none")
            REQUESTS.labels(route, model, str(status)).inc()
            REQUEST_DURATION.labels(route, model).observe(time.perf_counter() - started)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics() -> Response[bytes]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


def release_process_metrics() -> None:
    """On worker shutdown in multiprocess mode: drop this process's live gauges from the sums."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def prime_metrics(config: RoutingConfig) -> None:
    """Create the series whose label values the config fixes, at zero, so every metric is visible
    (and `rate()` works) before the first event: per deployment, per limit scope, per reload result."""
    for provider in config.providers:
        for model in config.models.values():
            for deployment in model.deployments:
                if deployment.provider != provider:
                    continue
                label = f"{deployment.provider}/{deployment.model}"
                UPSTREAM_ATTEMPTS.labels(provider, label, "ok")
                UPSTREAM_LATENCY.labels(provider, label)
                CIRCUIT_STATE.labels(label)
                RETRY_BUDGET_EXHAUSTED.labels(label)
                LEASES_IN_USE.labels(label)
    for scope in ("ip", "account"):
        RATE_LIMITED.labels(scope)
    for result in ("ok", "failed"):
        CONFIG_RELOADS.labels(result)
    for reason in EDGE_REASONS:
        EDGE_REJECTIONS.labels(reason)
