"""GET /metrics in the Prometheus text format, and the series primed at start-up.

Minimal on purpose (the deployment issue needs a live `/metrics`; the limits work owns the full
instrumentation). In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, `--workers` > 1) the
samples of every worker are merged; otherwise the process' default registry is served.
"""

from __future__ import annotations

import os

from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as _multiprocess

from gateway import metrics
from gateway.runtime import Runtime


@get("/metrics", summary="Prometheus metrics", operation_id="metrics", include_in_schema=False)
async def metrics_endpoint() -> Response[bytes]:
    return Response(content=generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        _multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return REGISTRY


def prime_deployment_series(runtime: Runtime) -> None:
    """Export every configured deployment's gauges from the start (circuit closed, no lease held),
    so dashboards and alerts see each deployment before its first request."""
    for slug in runtime.config.models:
        for deployment in runtime.deployments(slug):
            metrics.CIRCUIT_STATE.labels(deployment=deployment.label).set(0)
            metrics.LEASES_IN_USE.labels(deployment=deployment.label).inc(0)
