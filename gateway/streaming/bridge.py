"""Adapters as the executor sees them during a streamed request: same calls, updates tapped off.

The executor (retries, fallback, deadline) is unaware of streaming: for each shard the stream hands
it a view of the runtime whose adapters are `StreamingBridge`s. A bridge calls the real adapter's
`generate_stream` when it has one (forwarding progress and previews to the shard's `ShardTap`) and
plain `generate` otherwise, and returns the same ProviderResult either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

import msgspec

from adapters.base import ImageAdapter, supports_streaming
from gateway import imaging
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    PreviewImage,
    ProgressUpdate,
    ProviderResult,
    StreamUpdate,
)
from gateway.errors import FailureClass, ProviderError
from gateway.responders import data_url
from gateway.routing.plan import Shard
from gateway.runtime import Runtime
from gateway.streaming.events import PartialImageEvent, ProgressEvent, StreamEvent

Emit = Callable[[StreamEvent], None]
# Failures the policy would retry (or fall back on freely). Once the provider has streamed progress
# or a preview the work has started and may be billed (spec/routing-policy.md, "a streamed call that
# fails after the provider already sent progress or a preview"): these become AMBIGUOUS, so the call
# is re-sent only to an `idempotent: true` deployment and falls back only per `on_ambiguous`.
_STARTED_WORK_IS_AMBIGUOUS = (FailureClass.CONNECT, FailureClass.TRANSIENT, FailureClass.RATE_LIMITED)


class ShardTap:
    """Turns one shard's adapter updates into events about that shard's image slots."""

    def __init__(self, emit: Emit, shard: Shard) -> None:
        self._emit = emit
        self._first = shard.first_image
        self._count = shard.request.n
        self.attempts = 0
        self._last: tuple[str, FailureClass] | None = None

    def begin(self, provider: str) -> None:
        """A new attempt starts; after a failure, say so (the client sees retries and fallbacks)."""
        self.attempts += 1
        if self._last is None:
            return
        failed_provider, failure = self._last
        action = "retrying" if failed_provider == provider else f"falling back to {provider}"
        message = f"attempt {self.attempts - 1} failed ({failure.value} from {failed_provider}); {action}"
        for index in self._slots(None):
            self._emit(
                StreamEvent(
                    "progress",
                    ProgressEvent(
                        index=index,
                        step=0,
                        total_steps=None,
                        attempt=self.attempts,
                        provider=provider,
                        message=message,
                    ),
                )
            )

    def failed(self, error: ProviderError) -> None:
        self._last = (error.provider, error.failure)

    def update(self, update: ProgressUpdate | PreviewImage) -> None:
        if isinstance(update, ProgressUpdate):
            for index in self._slots(update.index):
                progress = ProgressEvent(index=index, step=update.step, total_steps=update.total_steps)
                self._emit(StreamEvent("progress", progress))
            return
        fmt = imaging.sniff_format(update.data)
        if fmt is None or not 0 <= update.index < self._count:
            return  # previews are advisory: an unreadable one is dropped, never fatal
        preview = PartialImageEvent(index=self._first + update.index, data_url=data_url(update.data, fmt))
        self._emit(StreamEvent("partial_image", preview))

    def _slots(self, index: int | None) -> range:
        if index is None:
            return range(self._first, self._first + self._count)
        if not 0 <= index < self._count:
            return range(0)
        return range(self._first + index, self._first + index + 1)


class StreamingBridge:
    """Wraps one real adapter for one shard. Never closes the adapter it wraps."""

    kind: ClassVar[str] = "stream-bridge"

    def __init__(self, adapter: ImageAdapter, provider: str, tap: ShardTap) -> None:
        self._adapter = adapter
        self._provider = provider
        self._tap = tap

    def capabilities(self, provider_model: str) -> Capabilities:
        return self._adapter.capabilities(provider_model)

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        self._tap.begin(self._provider)
        try:
            return await self._call(req, ctx)
        except ProviderError as exc:
            self._tap.failed(exc)
            raise

    async def aclose(self) -> None:
        return None

    async def _call(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        adapter = self._adapter
        if not supports_streaming(adapter):
            return await adapter.generate(msgspec.structs.replace(req, stream=False), ctx)
        updates = adapter.generate_stream(req, ctx)
        started = False  # this call has streamed progress or a preview: work began upstream
        try:
            async for update in updates:
                if isinstance(update, ProviderResult):
                    return update
                started = True
                self._tap.update(update)
        except ProviderError as exc:
            error = _after_work_started(exc) if started else exc
            if error is exc:
                raise
            raise error from exc
        finally:
            await _close(updates)
        raise ProviderError(self._provider, FailureClass.UPSTREAM_INVALID, "stream ended without an image")


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


def shard_view(runtime: Runtime, tap: ShardTap) -> Runtime:
    """The runtime with every adapter bridged to `tap` (cheap: no adapter is rebuilt)."""
    bridged: dict[str, ImageAdapter] = {
        name: StreamingBridge(adapter, name, tap) for name, adapter in runtime.adapters.items()
    }
    return dataclasses.replace(runtime, adapters=bridged)


async def _close(updates: AsyncIterator[StreamUpdate]) -> None:
    aclose = getattr(updates, "aclose", None)
    if aclose is not None:
        await aclose()
