"""The executor: for each shard, try deployments in order until one returns images.

Walking-skeleton version: ordered fallback, no retries. Retries (tenacity), budgets, circuit
breaking and deadlines slot in around `_attempt` without changing the shard loop's contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from gateway.canonical import CallContext, ImageRequest, ProviderResult
from gateway.errors import FailureClass, ProviderError
from gateway.metrics import FALLBACKS, UPSTREAM_ATTEMPTS, UPSTREAM_LATENCY
from gateway.routing.gate import ConcurrencyGate
from gateway.routing.plan import Shard, plan_shards
from gateway.runtime import Deployment, Runtime
from gateway.schemas import Attempt


@dataclass(slots=True)
class ShardOutcome:
    shard: Shard
    result: ProviderResult | None = None
    deployment: Deployment | None = None
    error: ProviderError | None = None
    attempts: list[Attempt] = field(default_factory=list)


async def execute(
    runtime: Runtime,
    req: ImageRequest,
    *,
    slug: str,
    request_id: str,
    deadline: float,
    gate: ConcurrencyGate | None = None,
) -> list[ShardOutcome]:
    deployments = runtime.deployments(slug)
    if not deployments:
        error = ProviderError(
            "gateway", FailureClass.MODEL_UNAVAILABLE, f"model {slug!r} has no enabled deployment"
        )
        return [ShardOutcome(shard=Shard(0, 0, req), error=error)]
    primary = deployments[0]
    max_n = primary.adapter.capabilities(primary.config.model).max_n
    shards = plan_shards(req, max_n)
    return list(
        await asyncio.gather(
            *(_run_shard(shard, deployments, request_id, deadline, gate) for shard in shards)
        )
    )


async def _run_shard(
    shard: Shard,
    deployments: list[Deployment],
    request_id: str,
    deadline: float,
    gate: ConcurrencyGate | None,
) -> ShardOutcome:
    outcome = ShardOutcome(shard=shard)
    for index, deployment in enumerate(deployments):
        ctx = CallContext(
            request_id=request_id,
            provider_model=deployment.config.model,
            deadline=deadline,
            options=deployment.config.options,
        )
        started = time.perf_counter()
        try:
            result = await _attempt(deployment, shard.request, ctx, gate)
        except ProviderError as exc:
            outcome.attempts.append(_attempt_record(deployment, shard, started, exc))
            outcome.error = exc
            if exc.failure in (
                FailureClass.CALLER_FAULT,
                FailureClass.CONTENT_POLICY,
                FailureClass.AMBIGUOUS,
            ):
                break
            if index + 1 < len(deployments):
                FALLBACKS.labels(deployment.label, deployments[index + 1].label, exc.failure.value).inc()
            continue
        outcome.attempts.append(_attempt_record(deployment, shard, started, None))
        outcome.result, outcome.deployment, outcome.error = result, deployment, None
        break
    return outcome


async def _attempt(
    deployment: Deployment, req: ImageRequest, ctx: CallContext, gate: ConcurrencyGate | None
) -> ProviderResult:
    remaining = ctx.remaining()
    if remaining <= 0:
        raise ProviderError(deployment.provider, FailureClass.DEADLINE, "request deadline passed")
    wait = min(deployment.lease_wait_seconds, remaining)
    lease = (
        gate.lease(deployment.label, limit=deployment.max_concurrency, wait_seconds=wait)
        if gate is not None
        else contextlib.nullcontext()
    )
    try:
        async with asyncio.timeout(remaining), lease:
            result = await deployment.adapter.generate(req, ctx)
    except TimeoutError:
        raise ProviderError(deployment.provider, FailureClass.DEADLINE, "request deadline passed") from None
    if not result.images:
        raise ProviderError(deployment.provider, FailureClass.UPSTREAM_INVALID, "provider returned no image")
    return result


def _attempt_record(
    deployment: Deployment, shard: Shard, started: float, error: ProviderError | None
) -> Attempt:
    outcome = "ok" if error is None else error.failure.value
    UPSTREAM_ATTEMPTS.labels(deployment.provider, deployment.label, outcome).inc()
    UPSTREAM_LATENCY.labels(deployment.provider, deployment.label).observe(time.perf_counter() - started)
    return Attempt(
        deployment=deployment.label,
        provider=deployment.provider,
        model=deployment.config.model,
        shard=shard.index,
        outcome="ok" if error is None else error.failure.value,
        status=None if error is None else error.status,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        message=None if error is None else error.message,
    )
