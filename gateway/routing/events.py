"""What the executor tells an optional listener while a request runs (the SSE responder is one).

    attempt(shard, provider)    a call is about to be made for `shard` (retries and fallbacks too)
    update(shard, update)       the adapter reported progress or a preview through `ctx.report`
    failed(shard, error)        the adapter's call failed (after any conversion below)
    shard_done(shard, outcomes) a planned shard is finished (its outcomes: remainders included)

Without a sink nothing of this runs and `ctx.report` stays None, so adapters make their plain call.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gateway.canonical import CallContext, ImageRequest, ProviderResult, Update
from gateway.errors import FailureClass, ProviderError
from gateway.routing.plan import Shard

if TYPE_CHECKING:
    from gateway.routing.executor import ShardOutcome
    from gateway.routing.strategy import Call

# Failures the policy would retry (or fall back on freely). Once the provider has reported progress
# or a preview the work has started and may be billed (spec/routing-policy.md, "a streamed call that
# fails after the provider already sent progress or a preview"): these become AMBIGUOUS, so the call
# is re-sent only to an `idempotent: true` deployment and falls back only per `on_ambiguous`.
_STARTED_WORK_IS_AMBIGUOUS = (FailureClass.CONNECT, FailureClass.TRANSIENT, FailureClass.RATE_LIMITED)


class Sink(Protocol):
    def attempt(self, shard: Shard, provider: str) -> None: ...

    def update(self, shard: Shard, update: Update) -> None: ...

    def failed(self, shard: Shard, error: ProviderError) -> None: ...

    async def shard_done(self, shard: Shard, outcomes: list[ShardOutcome]) -> None: ...


@runtime_checkable
class ResumableSink(Protocol):
    """A sink that keeps submitted task handles (the async job runner): a takeover resumes them."""

    def submitted(self, shard: Shard, provider: str, handle: str) -> None: ...

    def resume_handle(self, shard: Shard, provider: str) -> str | None: ...


async def reported_call(
    call: Call, req: ImageRequest, ctx: CallContext, shard: Shard, provider: str, sink: Sink
) -> ProviderResult:
    """`call` with `ctx.report` forwarding to `sink`, the attempt announced and its failure told."""
    started = False  # the call reported progress or a preview: work began upstream

    def report(update: Update) -> None:
        nonlocal started
        started = True
        sink.update(shard, update)

    sink.attempt(shard, provider)
    ctx = dataclasses.replace(ctx, report=report)
    if isinstance(sink, ResumableSink):
        handle = sink.resume_handle(shard, provider)
        submitted = functools.partial(sink.submitted, shard, provider)
        ctx = dataclasses.replace(ctx, submitted=submitted, resume=handle)
    try:
        return await call(req, ctx)
    except ProviderError as exc:
        exc.provider = provider  # the deployment's provider, before the sink hears of it (as in _call)
        error = _after_work_started(exc) if started else exc
        sink.failed(shard, error)
        if error is exc:
            raise
        raise error from exc


def _after_work_started(exc: ProviderError) -> ProviderError:
    if exc.failure not in _STARTED_WORK_IS_AMBIGUOUS:
        return exc  # content policy, a bad image, our deadline...: their own rows still apply
    return ProviderError(
        exc.provider,
        FailureClass.AMBIGUOUS,
        f"{exc.message} after the stream had started (work may be billed)",
        status=exc.status,
        provider_code=exc.provider_code,
    )
