"""GET /metrics, and the ASGI middleware that measures every routed request.

The middleware counts REQUESTS / REQUEST_DURATION / IN_FLIGHT by the route's path template (never
the raw path) and the canonical model the handler resolved (`other` for anything unknown), names the
route family (`canonical` /api, `openai` /v1, `other`: one per route, so no new series), writes the
rate-limit headers of the policies the handler evaluated, and logs one line per request
(`imagegate.access`: method, route template, family, status, model, principal, duration, request id;
never a header, so never a credential). With several workers
(PROMETHEUS_MULTIPROC_DIR set) /metrics aggregates every worker's files with a MultiProcessCollector,
after dropping the live gauges of workers that died without a clean shutdown (see `reap_dead_workers`).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from collections.abc import MutableMapping
from typing import Any

from litestar import Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from gateway.api.openai_errors import is_openai_path
from gateway.api.request_id import request_id_of
from gateway.config import RoutingConfig
from gateway.limits.service import STATE_KEY, ratelimit_headers
from gateway.metrics import (
    BUDGET_REJECTIONS,
    CIRCUIT_STATE,
    CONFIG_RELOADS,
    COST_USD,
    EDGE_REASONS,
    EDGE_REJECTIONS,
    IDEMPOTENT_REPLAYS,
    IN_FLIGHT,
    JOB_DURATION,
    JOB_TAKEOVERS,
    JOBS,
    LEASES_IN_USE,
    OVERLOAD_SHED,
    RATE_LIMITED,
    REDIS_POOL_EXHAUSTED,
    REQUEST_DURATION,
    REQUESTS,
    RETRY_BUDGET_EXHAUSTED,
    STORAGE_UPLOADS,
    UPSTREAM_ATTEMPTS,
    UPSTREAM_LATENCY,
    WEBHOOK_DELIVERIES,
)

MODEL_KEY = "metrics_model"
access_log = logging.getLogger("imagegate.access")


def route_family(path: str) -> str:
    """`openai` (/v1), `canonical` (/api), else `other` (health, metrics, docs)."""
    if is_openai_path(path):
        return "openai"
    return "canonical" if path == "/api" or path.startswith("/api/") else "other"


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
            elapsed = time.perf_counter() - started
            model = state.get(MODEL_KEY, "none")
            family = route_family(scope["path"])
            REQUESTS.labels(family, route, model, str(status)).inc()
            REQUEST_DURATION.labels(route, model).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                principal = state.get("principal")
                access_log.info(
                    "%s %s %d family=%s model=%s principal=%s %.0fms id=%s",
                    scope["method"], route, status, family, model,
                    getattr(principal, "account", "-"), elapsed * 1000, request_id_of(scope),
                )


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics() -> Response[bytes]:
    if path := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        reap_dead_workers(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def reap_dead_workers(path: str) -> list[int]:
    """Drop the live gauges (`livesum`/`livemax`/...) of every worker whose process is gone.

    A SIGKILLed or OOM-killed worker never runs its shutdown hook, so its in-flight and lease
    gauges would be summed forever. The HTTP server's supervisor offers no portable death hook, so
    the scrape itself checks: any pid with a `gauge_live*_<pid>.db` file that is no longer a running
    process is marked dead (its counters and histograms stay: they are history, not state)."""
    dead: set[int] = set()
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.match(os.path.basename(file))
        if match is not None and not _alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    return sorted(dead)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else: not ours to judge
    try:  # a killed child its parent has not reaped yet is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): signal 0 is the best evidence there is


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
    for slug, model in config.models.items():  # cost per model and provider (docs/cost.md)
        for deployment in model.deployments:
            COST_USD.labels(slug, deployment.provider)
    BUDGET_REJECTIONS.labels("insufficient_balance")
    for scope in ("ip", "account", "key"):
        RATE_LIMITED.labels(scope)
    for result in ("ok", "failed"):
        CONFIG_RELOADS.labels(result)
    for reason in ("admission_queue", "admission_wait", "redis_pool"):
        OVERLOAD_SHED.labels(reason)
    for pool in ("limits", "store"):
        REDIS_POOL_EXHAUSTED.labels(pool)
    for reason in EDGE_REASONS:
        EDGE_REJECTIONS.labels(reason)
    for state in ("queued", "running", "completed", "partial", "failed", "canceled"):  # async jobs
        JOBS.labels(state)
        if state not in ("queued", "running"):
            JOB_DURATION.labels(state)
    for result in ("resumed", "failed", "finished"):
        JOB_TAKEOVERS.labels(result)
    for outcome in ("delivered", "retried", "failed"):
        WEBHOOK_DELIVERIES.labels(outcome)
    prime_idempotency_and_storage(config)


def prime_idempotency_and_storage(config: RoutingConfig) -> None:
    """Idempotency-Key outcomes on the generating routes; uploads of the configured storage backend."""
    for route in ("/api/v1/image/generate", "/v1/images/generations"):
        for result in ("replayed", "in_progress", "mismatch", "unavailable"):
            IDEMPOTENT_REPLAYS.labels(route, result)
    for result in ("ok", "error"):
        STORAGE_UPLOADS.labels(config.storage.backend if config.storage else "local", result)
