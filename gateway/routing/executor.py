"""The executor: for each shard of the fan-out plan, try deployments in strategy order.

Per shard: walk the candidate chain (routing/strategy.py); each deployment is tried through the
retry loop (routing/retry.py, the only retry site); each try passes the circuit breaker
(routing/breaker.py) and a concurrency lease (routing/gate.py, injected), then runs under the
request deadline and the provider's per-attempt timeout. A failure falls back to the next
deployment when policy.may_fall_back allows. Shards run concurrently in a TaskGroup, so a cancelled
request (client disconnect) cancels every outstanding upstream call and leaves no task behind.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

import msgspec

from gateway import finishing, http_client, metrics, pricing
from gateway.canonical import CallContext, ImageRequest, Operation, ProviderResult
from gateway.config import RoutingConfig
from gateway.errors import GATEWAY, FailureClass, ProviderError
from gateway.routing import editing
from gateway.routing.alerts import OperatorAlerts
from gateway.routing.breaker import BreakerRegistry, Clock
from gateway.routing.events import Sink, reported_call
from gateway.routing.gate import ConcurrencyGate, LocalGate
from gateway.routing.plan import Shard, plan_shards
from gateway.routing.policy import counts_for_breaker, may_fall_back
from gateway.routing.retry import RetryBudget, RetryEnv, Sleep, call_with_retries
from gateway.routing.strategy import candidates, capable, operation_of
from gateway.runtime import Deployment, Runtime

log = logging.getLogger("imagegate.routing")
WAITED_PAST_DEADLINE = "deadline passed waiting for the provider"  # sent, unanswered: may be billed


@dataclass(slots=True)
class Router:
    """Routing state that outlives a config reload: gate, breakers, retry budget, randomness."""

    gate: ConcurrencyGate
    breakers: BreakerRegistry
    budget: RetryBudget
    rng: random.Random
    sleep: Sleep = asyncio.sleep
    alerts: OperatorAlerts = field(default_factory=OperatorAlerts)  # 401/403/402/quota, for the operator

    @classmethod
    def local(
        cls,
        config: RoutingConfig | None = None,
        *,
        gate: ConcurrencyGate | None = None,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> Router:
        router = cls(
            gate=gate or LocalGate(),
            breakers=BreakerRegistry(clock=clock),
            budget=RetryBudget(clock=clock),
            rng=rng or random.Random(),
            sleep=sleep,
            alerts=OperatorAlerts(clock=clock),
        )
        if config is not None:
            router.configure(config)
        return router

    def configure(self, config: RoutingConfig) -> None:
        """Adopt a (re)loaded config; breaker states and budget windows carry over."""
        self.breakers.configure(config.circuit_breaker)
        self.budget.configure(config.retry)


class AttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One call (or breaker skip) on a shard, as the router saw it; the responders put it on the
    wire (`provider_metadata.attempts`), the router never builds a public type."""

    deployment: str
    provider: str
    model: str
    shard: int
    outcome: str  # "ok" or a FailureClass value
    status: int | None = None
    latency_ms: float = 0.0
    message: str | None = None
    cost_micro: int = 0  # what this call cost (gateway/pricing.py), integer micro-USD
    cost_basis: pricing.Basis = "none"


@dataclass(slots=True)
class ShardOutcome:
    shard: Shard
    result: ProviderResult | None = None
    deployment: Deployment | None = None
    error: ProviderError | None = None  # the failure that ended the shard (None on success)
    attempts: list[AttemptRecord] = field(default_factory=list)
    failures: list[ProviderError] = field(default_factory=list)  # each deployment's final failure


@dataclass(frozen=True, slots=True)
class _Run:
    runtime: Runtime
    router: Router
    retry: RetryEnv
    request_id: str
    deadline: float
    operation: Operation = Operation.GENERATE
    sink: Sink | None = None


async def execute(
    runtime: Runtime,
    req: ImageRequest,
    *,
    slug: str,
    request_id: str,
    deadline: float,
    router: Router | None = None,
    operation: Operation = Operation.GENERATE,
    sink: Sink | None = None,
) -> list[ShardOutcome]:
    """Every shard's outcome (remainders included), in image order. With a `sink`, progress and
    attempts are reported as they happen (gateway/routing/events.py)."""
    router = router or Router.local(runtime.config)
    routes = candidates(runtime, slug, router.rng)
    chain = capable(routes, operation)
    skipped: list[str] = []
    if operation is Operation.EDIT:  # by capabilities: edit, input count, mask (routing/editing.py)
        mask_required = runtime.config.models[slug].edit.mask_required_on_fallback
        chain, skipped = editing.edit_chain(routes, len(req.images), req.mask is not None, mask_required=mask_required)
    if not chain:
        why = f"no route of {slug!r} can {operation.value}" if routes else runtime.why_unavailable(slug)
        error = ProviderError(GATEWAY, FailureClass.MODEL_UNAVAILABLE, why)
        return [ShardOutcome(shard=Shard(0, 0, req), error=error, failures=[error])]
    retry = RetryEnv(config=runtime.config.retry, budget=router.budget, rng=router.rng, sleep=router.sleep)
    run = _Run(runtime, router, retry, request_id, deadline, operation, sink)
    # Shards small enough for every deployment in the chain, so any of them can take over any shard
    # (images are billed per image, so smaller calls cost the same; they run concurrently).
    max_n = min(d.adapter.capabilities(d.config.model).max_n for d in chain)
    shards = plan_shards(req, max_n, group=None if sink is None else _stream_group(runtime, slug))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_run_shard(shard, chain, run)) for shard in shards]
    outcomes = [outcome for task in tasks for outcome in task.result()]
    for outcome in outcomes if skipped else []:  # the skipped deployments, in every answer's warnings
        if outcome.result is not None:
            outcome.result = msgspec.structs.replace(outcome.result, warnings=[*skipped, *outcome.result.warnings])
    return outcomes if len(outcomes) == len(shards) else _renumbered(outcomes)


async def _run_shard(shard: Shard, chain: list[Deployment], run: _Run) -> list[ShardOutcome]:
    """The shard's outcome; when a deployment answers with fewer images than asked, the missing
    ones become a shard of their own that goes on down the chain (spec/routing-policy.md, "fewer
    images than asked in a 200": no retry of that deployment, fallback for the new shard)."""
    outcomes = [ShardOutcome(shard=shard)]
    position = await _walk_chain(outcomes[0], chain, 0, run)
    while position is not None:
        done = outcomes[-1]
        assert done.result is not None and done.deployment is not None
        produced = len(done.result.images)
        if produced >= done.shard.request.n:
            break
        shortfall = ProviderError(
            done.deployment.provider,
            FailureClass.UPSTREAM_INVALID,
            f"{done.deployment.label} returned {produced} of {done.shard.request.n} images",
        )
        rest = ShardOutcome(shard=_remainder(done.shard, produced), error=shortfall, failures=[shortfall])
        outcomes.append(rest)
        log.info("%s; asking the next deployment for the rest", shortfall.message)
        position = await _walk_chain(rest, chain, position + 1, run)
    if run.sink is not None:
        await run.sink.shard_done(shard, outcomes)
    return outcomes


def _stream_group(runtime: Runtime, slug: str) -> int | None:
    """Images per call when progress is reported: the first deployment's `stream_max_n` (gpt-image
    streams one image per call) — a routing-file fact, so every streamed request plans alike."""
    deployments = runtime.deployments(slug)
    if not deployments:
        return None
    primary = deployments[0]
    caps = primary.adapter.capabilities(primary.config.model)
    return min(caps.max_n, caps.stream_max_n or caps.max_n)


async def _walk_chain(outcome: ShardOutcome, chain: list[Deployment], start: int, run: _Run) -> int | None:
    """Try `chain[start:]` for the outcome's shard; the position that succeeded, or None."""
    shard = outcome.shard
    for position in range(start, len(chain)):
        deployment = chain[position]
        try:
            result = await _try_deployment(deployment, shard, run, outcome.attempts)
        except ProviderError as exc:
            outcome.failures.append(exc)
            outcome.error = exc
            if exc.failure is FailureClass.CALLER_FAULT:
                log.warning("provider %s rejected our request as invalid: %s", deployment.label, exc.message)
            if not may_fall_back(exc.failure, run.runtime.config.fallback) or position + 1 == len(chain):
                return None
            following = chain[position + 1].label
            metrics.FALLBACKS.labels(deployment.label, following, exc.failure.value).inc()
            continue
        outcome.result, outcome.deployment, outcome.error = result, deployment, None
        return position
    return None


def _remainder(shard: Shard, produced: int) -> Shard:
    """The images of `shard` after its first `produced`, with the seeds they would have had."""
    req = shard.request
    seed = None if req.seed is None else req.seed + produced
    rest = msgspec.structs.replace(req, n=req.n - produced, seed=seed)
    return Shard(shard.index, shard.first_image + produced, rest)


def _renumbered(outcomes: list[ShardOutcome]) -> list[ShardOutcome]:
    """Shards numbered 0, 1, ... in image order (a remainder right after the shard it completes),
    attempts relabelled to match, so the merge keeps the images in the order they were asked for."""
    ordered = sorted(outcomes, key=lambda o: o.shard.first_image)
    renumbered = []
    for index, outcome in enumerate(ordered):
        attempts = [msgspec.structs.replace(a, shard=index) for a in outcome.attempts]
        shard = Shard(index, outcome.shard.first_image, outcome.shard.request)
        renumbered.append(
            ShardOutcome(shard, outcome.result, outcome.deployment, outcome.error, attempts, outcome.failures)
        )
    return renumbered


async def _try_deployment(
    deployment: Deployment, shard: Shard, run: _Run, attempts: list[AttemptRecord]
) -> ProviderResult:
    limit = run.deadline
    if deployment.timeouts.total_seconds is not None:
        limit = min(limit, time.monotonic() + deployment.timeouts.total_seconds)

    async def once(number: int) -> ProviderResult:
        return await _attempt(deployment, shard, run, number, attempts, limit)

    return await call_with_retries(
        once,
        label=deployment.label,
        idempotent=deployment.idempotent,
        retry_on_5xx=deployment.retry_on_5xx,
        deadline=limit,
        env=run.retry,
    )


async def _attempt(
    deployment: Deployment, shard: Shard, run: _Run, number: int, attempts: list[AttemptRecord], limit: float
) -> ProviderResult:
    breakers = run.router.breakers
    if not breakers.allow(deployment.label):
        error = ProviderError(
            deployment.provider,
            FailureClass.CIRCUIT_OPEN,
            "circuit open: skipped",
            retry_after=breakers.retry_in(deployment.label) or None,
        )
        attempts.append(_record(deployment, shard, None, error))
        raise error
    started = time.perf_counter()
    ctx = CallContext(
        request_id=run.request_id,
        provider_model=deployment.config.model,
        deadline=limit,
        attempt=number,
        options=deployment.config.options,
    )
    try:
        result = await _call(deployment, shard, ctx, run)
    except ProviderError as exc:
        if exc.failure in (FailureClass.CAPACITY, FailureClass.DEADLINE):
            breakers.release(deployment.label)  # says nothing about the provider's health
        else:
            breakers.record(deployment.label, healthy=not counts_for_breaker(exc.failure))
        run.router.alerts.record(deployment, exc)
        attempts.append(_record(deployment, shard, started, exc))
        raise
    except BaseException:
        breakers.release(deployment.label)  # cancelled: the caller went away
        raise
    breakers.record(deployment.label, healthy=True)
    attempts.append(_record(deployment, shard, started, None, result))
    return result


async def _call(deployment: Deployment, shard: Shard, ctx: CallContext, run: _Run) -> ProviderResult:
    req, dropped = editing.for_deployment(deployment, shard.request)
    _check_time(deployment, ctx, run)
    wait = min(deployment.provider_config.lease_wait_seconds, ctx.remaining())
    async with run.router.gate.lease(deployment.label, limit=deployment.max_concurrency, wait_seconds=wait):
        _check_time(deployment, ctx, run)
        per_attempt = deployment.timeouts.attempt_seconds
        timeout = ctx.remaining() if per_attempt is None else min(ctx.remaining(), per_attempt)
        # The provider client's default response cap follows the images this call asked for.
        asked = http_client.images_asked.set(req.n)
        try:
            async with asyncio.timeout(timeout):
                call = operation_of(deployment, run.operation)
                assert call is not None  # the chain was filtered by capability
                if run.sink is None:
                    result = await call(req, ctx)
                else:
                    result = await reported_call(call, req, ctx, shard, deployment.provider, run.sink)
        except ProviderError as exc:
            # Adapters name their kind ("openai"); routing, alerts and metrics know the deployment's
            # provider ("azure-east"): stamped here, once, for every failure an adapter raises.
            exc.provider = deployment.provider
            raise
        except TimeoutError:
            if time.monotonic() >= run.deadline - 0.005:
                raise ProviderError(
                    deployment.provider, FailureClass.DEADLINE, "deadline passed waiting for the provider"
                ) from None
            raise ProviderError(
                deployment.provider,
                FailureClass.AMBIGUOUS,
                f"no answer within {timeout:.1f} s (outcome unknown)",
            ) from None
        except Exception as exc:  # an adapter bug: never a 500, never a retry; logged with its trace
            log.exception("adapter %s raised an unexpected error", deployment.label)
            raise ProviderError(
                deployment.provider, FailureClass.UPSTREAM_INVALID, f"adapter error ({type(exc).__name__})"
            ) from exc
        finally:
            http_client.images_asked.reset(asked)
        # Every image proven to decode (and finished) before this attempt counts as a success;
        # outside the attempt timeout (the answer is in), inside the lease (the call's work).
        if dropped is not None:
            result = msgspec.structs.replace(result, warnings=[*result.warnings, dropped])
        return await finishing.check_result(deployment.provider, req, result)


def _check_time(deployment: Deployment, ctx: CallContext, run: _Run) -> None:
    """Before sending: the request deadline ends the request; running out of this deployment's own
    `total_seconds` only ends this deployment (nothing was sent, so falling back is safe)."""
    if time.monotonic() >= run.deadline:
        raise ProviderError(deployment.provider, FailureClass.DEADLINE, "request deadline passed")
    if ctx.remaining() <= 0:
        raise ProviderError(deployment.provider, FailureClass.CAPACITY, "deployment time budget spent")


def _record(
    deployment: Deployment,
    shard: Shard,
    started: float | None,
    error: ProviderError | None,
    result: ProviderResult | None = None,
) -> AttemptRecord:
    outcome = "ok" if error is None else error.failure.value
    cost = pricing.FREE
    if started is not None:  # a call was made (a breaker skip costs nothing)
        waited = error is not None and error.message == WAITED_PAST_DEADLINE
        failure = None if error is None else error.failure
        cost = pricing.call_cost(deployment.config.price, shard.request, result, failure, charged_failure=waited)
    latency = 0.0 if started is None else time.perf_counter() - started
    if started is not None:  # a real call, not a breaker skip (those show in imagegate_circuit_state)
        metrics.UPSTREAM_ATTEMPTS.labels(deployment.provider, deployment.label, outcome).inc()
        metrics.UPSTREAM_LATENCY.labels(deployment.provider, deployment.label).observe(latency)
    return AttemptRecord(
        deployment=deployment.label,
        provider=deployment.provider,
        model=deployment.config.model,
        shard=shard.index,
        outcome=outcome,
        status=None if error is None else error.status,
        latency_ms=round(latency * 1000, 2),
        message=None if error is None else error.message,
        cost_micro=cost.micro,
        cost_basis=cost.basis,
    )
