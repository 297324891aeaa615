"""Run a streamed request: shards through the executor, `image` events in order, then one ending.

Each shard (a call of at most `max_n` images, or `stream_max_n` when the primary provider streams
fewer per call) runs through the ordinary executor, so retries, fallback and the deadline apply as
on the JSON path. Images are announced in shard order as soon as every earlier shard has finished,
so the index in an `image` event is the index the same image has in `completed` — which is built by
the very merge the JSON path uses. Progress and previews are forwarded as they happen; their
`index` is the image's requested slot (it differs from the final index only if an earlier image
failed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import msgspec

from gateway.canonical import ImageRequest
from gateway.errors import GatewayError
from gateway.merge import merge
from gateway.metrics import IMAGES_GENERATED
from gateway.responders import generate_response, image_object
from gateway.routing.executor import Router, ShardOutcome, execute
from gateway.routing.plan import Shard, plan_shards
from gateway.runtime import Runtime
from gateway.schemas import ErrorDetail, ErrorResponse, ImageObject
from gateway.streaming.bridge import Emit, ShardTap, shard_view
from gateway.streaming.events import StreamEvent

log = logging.getLogger("imagegate.streaming")


@dataclasses.dataclass(frozen=True, slots=True)
class StreamJob:
    runtime: Runtime
    req: ImageRequest
    slug: str
    request_id: str
    deadline: float  # absolute, time.monotonic()
    router: Router  # the app's routing state (breakers, retry budget, gate)


async def produce(job: StreamJob, emit: Emit) -> None:
    """Emit the request's events; the last one is always exactly one `completed` or `error`."""
    try:
        final = await _run(job, emit)
    except GatewayError as exc:
        final = error_event(exc.error_code, exc.message)
    except Exception:
        log.exception("streamed request %s failed", job.request_id)
        final = error_event("internal_error", "internal error")
    emit(final)


def error_event(code: str, message: str) -> StreamEvent:
    return StreamEvent("error", ErrorResponse(error=ErrorDetail(code=code, message=message)))


async def _run(job: StreamJob, emit: Emit) -> StreamEvent:
    shards = plan_shards(job.req, _stream_max_n(job))
    outcomes: list[ShardOutcome] = []
    announced: list[ImageObject] = []
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_run_shard(job, shard, emit)) for shard in shards]
        for task in tasks:
            for outcome in await task:
                outcome, images = await _announce(job, _renumber(outcome, len(outcomes)), len(announced))
                for image in images:
                    emit(StreamEvent("image", image))
                outcomes.append(outcome)
                announced.extend(images)
    result = await merge(job.request_id, job.req, outcomes)
    # Byte-identical to what was announced (a lossy re-encode must not make them differ).
    same = [image.index for image in result.images] == [image.index for image in announced]
    return StreamEvent("completed", generate_response(result, announced if same else None))


def _stream_max_n(job: StreamJob) -> int:
    deployments = job.runtime.deployments(job.slug)
    if not deployments:
        return max(1, job.req.n)
    primary = deployments[0]
    caps = primary.adapter.capabilities(primary.config.model)
    return min(caps.max_n, caps.stream_max_n or caps.max_n)


async def _run_shard(job: StreamJob, shard: Shard, emit: Emit) -> list[ShardOutcome]:
    view = shard_view(job.runtime, ShardTap(emit, shard))
    outcomes = await execute(
        view,
        shard.request,
        slug=job.slug,
        request_id=job.request_id,
        deadline=job.deadline,
        router=job.router,
    )
    return [
        dataclasses.replace(o, shard=Shard(o.shard.index, shard.first_image + o.shard.first_image, o.shard.request))
        for o in sorted(outcomes, key=lambda o: o.shard.index)
    ]


def _renumber(outcome: ShardOutcome, index: int) -> ShardOutcome:
    """Shard numbers as the JSON path would give them (each executor call numbers its own from 0)."""
    attempts = [dataclasses.replace(a, shard=index) for a in outcome.attempts]
    shard = dataclasses.replace(outcome.shard, index=index)
    return dataclasses.replace(outcome, shard=shard, attempts=attempts)


async def _announce(
    job: StreamJob, outcome: ShardOutcome, first_index: int
) -> tuple[ShardOutcome, list[ImageObject]]:
    """Finish the outcome's images (transcode, strip metadata) with merge, numbered from `first_index`.

    Returns the outcome and the image objects to announce. The executor already proved and
    finished the images (gateway/finishing.py), so neither this merge nor the final one decodes
    them again.
    """
    if outcome.result is None or outcome.deployment is None:
        return outcome, []
    try:
        result = await merge(job.request_id, outcome.shard.request, [outcome])
    except GatewayError:
        return outcome, []  # nothing usable in this shard; the final merge reports why
    objects = [msgspec.structs.replace(image_object(image), index=first_index + i) for i, image in enumerate(result.images)]
    IMAGES_GENERATED.labels(job.slug, outcome.deployment.provider).inc(len(objects))
    return outcome, objects
