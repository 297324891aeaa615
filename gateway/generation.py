"""The one generation pipeline every endpoint shares: `run(job, sink=None) -> Result`.

    endpoint codec (gateway/api/images.py)   body -> Job; Result -> JSON | file | SSE
    admission      (gateway/api/admit.py)    body limit, model resolution, limits, auth
    run            (here)                    deadline once, executor (plans once), finish once
    responders     (gateway/responders.py, gateway/streaming/)

No HTTP and no auth here: a Job arrives admitted, with its model already resolved. A Result is
neutral (finished images, attempt records, warnings, scrubbed raw bodies, a cost slot): the
responders, not the core, build wire types and data URLs.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import msgspec

from gateway import finishing, imaging
from gateway.b64 import b64decode
from gateway.canonical import ImageRequest, Operation
from gateway.config import ModelConfig
from gateway.costing import Cost, metered
from gateway.errors import ProviderError, UpstreamError
from gateway.merge import error_for, scrub
from gateway.metrics import IMAGES_GENERATED
from gateway.routing.events import Sink
from gateway.routing.executor import AttemptRecord, Router, ShardOutcome, execute
from gateway.runtime import Runtime

__all__ = ["Delivery", "FinishedImage", "Job", "Operation", "Result", "Route", "finish", "run"]


class Delivery(enum.StrEnum):
    """How the endpoint hands the Result over; the core does not look at it."""

    JSON = "json"
    FILE = "file"
    SSE = "sse"


class Route(msgspec.Struct, frozen=True):
    """The served model a request resolved to (once, at admission)."""

    slug: str  # canonical name: metric label, limits key, routing table key
    model: ModelConfig


class Job(msgspec.Struct, frozen=True):
    operation: Operation
    request: ImageRequest  # the canonical inputs: what to make
    delivery: Delivery
    route: Route
    request_id: str


async def run(runtime: Runtime, job: Job, *, router: Router, sink: Sink | None = None) -> Result:
    """Run `job` through the executor under its model's deadline; the merged Result. A `sink`
    (the SSE responder) hears attempts, progress, previews and finished shards as they happen."""
    budget = job.route.model.deadline_seconds or runtime.config.server.request_deadline_seconds
    async with metered(job.route.slug, job.request_id) as meter:  # cost, log line, budget settlement
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
        cost = meter.record(outcomes)
        result = msgspec.structs.replace(await finish(job.request_id, job.request, outcomes), cost=cost)
        meter.images = len(result.images)
    for image in result.images:
        IMAGES_GENERATED.labels(job.route.slug, image.provider).inc()
    return result


@dataclass(frozen=True, slots=True)
class FinishedImage:
    index: int
    data: bytes  # empty when the provider's base64 passes through untouched (`b64`)
    info: imaging.ImageInfo
    seed: int | None
    provider: str
    b64: str | None = None
    url: str | None = None  # `output_type: url`: the signed link (gateway/stored_results.py), bytes dropped
    b64_ascii: memoryview | None = None  # `b64` as the provider's body bytes (canonical.ProviderImage)

    def image_bytes(self) -> bytes:
        return self.data if self.b64 is None else b64decode(self.b64)


class Shortfall(msgspec.Struct, frozen=True):
    """Why a partial result has fewer images than asked (the wire's `error` of `status: partial`)."""

    code: str
    message: str


class Result(msgspec.Struct, frozen=True):
    """What a generation produced, before any endpoint encodes it."""

    request_id: str
    created: int  # unix seconds
    images: list[FinishedImage]  # numbered 0.., at most the `n` asked for
    shortfall: Shortfall | None  # None: every image asked for was produced
    provider: str  # the one provider of the images, or "mixed"
    model: str  # the one provider model, or "mixed"
    raw: dict[str, object]  # scrubbed provider bodies (one call's, or {"calls": [...]})
    attempts: list[AttemptRecord]
    warnings: list[str]
    cost: Cost | None = None  # what the calls cost (gateway/costing.py); set by `run`
    input_images: list[tuple[int, int]] = msgspec.field(default_factory=list)  # an edit's inputs (w, h)


async def finish(request_id: str, req: ImageRequest, outcomes: list[ShardOutcome]) -> Result:
    """The one merge: images renumbered across shards (proven and transcoded inside the attempts
    already), provider bodies scrubbed, and, when nothing was produced, the GatewayError that
    reflects the most meaningful failure (merge.error_for)."""
    images: list[FinishedImage] = []
    warnings: list[str] = []
    raws: list[dict[str, object]] = []
    failures: list[ProviderError] = []
    for outcome in sorted(outcomes, key=lambda o: o.shard.index):
        if outcome.result is None or outcome.deployment is None:
            failures.extend(outcome.failures or ([outcome.error] if outcome.error else []))
            continue
        raw = scrub(outcome.result.raw)
        assert isinstance(raw, dict)
        raws.append(raw)
        warnings.extend(w for w in outcome.result.warnings if w not in warnings)
        images.extend(await _finished(outcome, req, len(images), failures))
    attempts = [attempt for outcome in outcomes for attempt in outcome.attempts]
    if not images:
        raise error_for(failures)
    first = next(o for o in sorted(outcomes, key=lambda o: o.shard.index) if o.deployment is not None)
    assert first.deployment is not None
    return Result(
        request_id=request_id,
        created=int(time.time()),
        images=images[: req.n],
        shortfall=_shortfall(req.n, len(images), failures),
        provider=_one_or_mixed({image.provider for image in images[: req.n]}, first.deployment.provider),
        model=_one_or_mixed(
            {o.deployment.config.model for o in outcomes if o.result is not None and o.deployment},
            first.deployment.config.model,
        ),
        raw=raws[0] if len(raws) == 1 else {"calls": raws},
        attempts=attempts,
        warnings=warnings,
        input_images=[(image.width, image.height) for image in req.images],
    )


async def finished_images(outcome: ShardOutcome, first_index: int) -> list[FinishedImage]:
    """One shard outcome's images numbered from `first_index`, as `finish` will number them when
    every earlier shard produced all of its own (the SSE `image` events, before `finish`)."""
    if outcome.result is None or outcome.deployment is None:
        return []
    return await _finished(outcome, outcome.shard.request, first_index, [])


async def _finished(
    outcome: ShardOutcome, req: ImageRequest, first_index: int, failures: list[ProviderError]
) -> list[FinishedImage]:
    assert outcome.result is not None and outcome.deployment is not None
    provider = outcome.deployment.provider
    images: list[FinishedImage] = []
    # Normally checked already, inside the attempt (finishing.check_result); extras never decoded.
    for provider_image in outcome.result.images[: outcome.shard.request.n]:
        try:
            image = await finishing.check_image(provider, provider_image, req)
        except ProviderError as exc:
            failures.append(exc)
            continue
        index = first_index + len(images)
        images.append(
            FinishedImage(index, image.data, image.info, image.seed, provider, image.b64, b64_ascii=image.b64_ascii)
        )
    return images


def _one_or_mixed(names: set[str], fallback: str) -> str:
    """`provider` / `model` of the answer: the one name, or "mixed" when the images came from several
    (spec/image-generate.md; each image's provider is in `attempts` and the X-Provider header)."""
    return "mixed" if len(names) > 1 else next(iter(names), fallback)


def _shortfall(wanted: int, produced: int, failures: list[ProviderError]) -> Shortfall | None:
    """The `error` of a `partial` response (None when every image was produced)."""
    missing = wanted - produced
    if missing <= 0:
        return None
    cause = (
        error_for(failures) if failures else UpstreamError("provider returned fewer images than requested")
    )
    return Shortfall(code=cause.error_code, message=f"{missing} of {wanted} images failed: {cause.message}")
