"""The one generation pipeline every endpoint shares: `run(job) -> Result`.

    endpoint codec (gateway/api/images.py)   body -> ImageRequest; Result -> JSON | file | SSE
    admission      (gateway/api/admit.py)    body limit, model resolution, limits, auth
    run            (here)                    deadline, executor, merge, counted once
    responders     (gateway/responders.py, gateway/streaming/)

No HTTP and no auth here: a Job arrives admitted, with its model already resolved.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from gateway.canonical import ImageRequest, Operation
from gateway.config import ModelConfig
from gateway.merge import FinishedImage, Result, merge
from gateway.metrics import IMAGES_GENERATED
from gateway.routing.events import Sink
from gateway.routing.executor import Router, execute
from gateway.runtime import Runtime

__all__ = ["Delivery", "FinishedImage", "Job", "Operation", "Result", "Route", "run"]


class Delivery(enum.StrEnum):
    """How the endpoint hands the Result over; the core does not look at it."""

    JSON = "json"
    FILE = "file"
    SSE = "sse"


@dataclass(frozen=True, slots=True)
class Route:
    """The served model a request resolved to (once, at admission)."""

    slug: str  # canonical name: metric label, limits key, routing table key
    model: ModelConfig


@dataclass(frozen=True, slots=True)
class Job:
    operation: Operation
    request: ImageRequest  # the canonical inputs: what to make
    delivery: Delivery
    route: Route
    request_id: str


async def run(runtime: Runtime, job: Job, *, router: Router, sink: Sink | None = None) -> Result:
    """Run `job` through the executor under its model's deadline; the merged Result. A `sink`
    (the SSE responder) hears attempts, progress, previews and finished shards as they happen."""
    budget = job.route.model.deadline_seconds or runtime.config.server.request_deadline_seconds
    outcomes = await execute(
        runtime,
        job.request,
        slug=job.route.slug,
        request_id=job.request_id,
        deadline=time.monotonic() + budget,
        router=router,
        operation=job.operation,
        sink=sink,
    )
    result = await merge(job.request_id, job.request, outcomes)
    for image in result.images:
        IMAGES_GENERATED.labels(job.route.slug, image.provider).inc()
    return result
