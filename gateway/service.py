"""The request path after the API layer: router -> adapters -> merge. No HTTP, no auth here."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.canonical import ImageRequest
from gateway.errors import ModelNotFound
from gateway.merge import FinishedImage, merge
from gateway.routing.executor import Router, execute
from gateway.runtime import Runtime
from gateway.schemas import GenerateResponse


@dataclass(frozen=True, slots=True)
class Generation:
    response: GenerateResponse
    images: list[FinishedImage]


async def generate(
    runtime: Runtime, req: ImageRequest, *, request_id: str, router: Router | None = None
) -> Generation:
    resolved = runtime.config.resolve_model(req.model)
    if resolved is None:
        raise ModelNotFound(f"model {req.model!r} is not served here; GET /api/v1/models lists the models")
    slug, model = resolved
    budget = model.deadline_seconds or runtime.config.server.request_deadline_seconds
    outcomes = await execute(
        runtime, req, slug=slug, request_id=request_id, deadline=time.monotonic() + budget, router=router
    )
    response, images = await merge(request_id, req, outcomes)
    return Generation(response, images)
