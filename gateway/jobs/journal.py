"""A running job's writer: its events numbered and written in order, its shards' calls recorded.

`Journal.emit` is the SSE sink's `emit` (sync, never blocking): events queue for one writer task,
which appends them to the store in order (the SSE `id`s 1, 2, 3, ...). Bounded: at most
`jobs.max_events` events and `jobs.max_stored_bytes` of them; past either, progress, previews and
`image` events are dropped (the ending carries every image) — never the ending. An ending larger
than `max_stored_bytes` becomes an `error` (`result_too_large`).

`JobSink` is the SSE sink plus the call records a takeover decides with (gateway/jobs/takeover.py):
each shard's call is `calling` (sent, outcome unknown), `failed` (with its failure class) or `done`,
with the handle of a submitted task when the adapter reported one (`ctx.submitted`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import msgspec

from gateway.errors import ProviderError
from gateway.jobs.model import CallRecord
from gateway.jobs.store import JobGone, JobStore, StoredEvent
from gateway.redis import RedisUnavailable
from gateway.routing.executor import ShardOutcome
from gateway.routing.plan import Shard
from gateway.streaming.events import StreamEvent
from gateway.streaming.sink import Emit, SseSink, error_event

log = logging.getLogger("imagegate.jobs")
_ENCODER = msgspec.json.Encoder()
_WRITE_TRIES = 3


@dataclass(frozen=True, slots=True)
class _Call:
    shard: int
    record: CallRecord


class Journal:
    def __init__(
        self,
        store: JobStore,
        job_id: str,
        owner: str,
        *,
        first_seq: int,
        max_events: int,
        max_bytes: int,
        ttl: int,
    ) -> None:
        self._store, self._job_id, self._owner, self._ttl = store, job_id, owner, ttl
        self._seq = first_seq
        self._max_events, self._max_bytes = max_events, max_bytes
        self._count = self._bytes = 0
        self._queue: asyncio.Queue[StoredEvent | _Call | None] = asyncio.Queue()
        self.ending: StoredEvent | None = None
        self.announced: set[int] = set()  # images already announced (before a takeover)
        self.lost = False  # another owner holds the job: nothing more is written
        self._writer = asyncio.create_task(self._write_all())

    def emit(self, event: StreamEvent) -> None:
        if self.ending is not None:
            return
        if event.name == "image" and getattr(event.payload, "index", None) in self.announced:
            return  # a resumed job announces again what its first runner announced: said once
        data = _ENCODER.encode(event.payload)
        if event.terminal:
            if len(data) > self._max_bytes:
                too_large = error_event("result_too_large", "the result is larger than jobs.max_stored_bytes")
                event, data = too_large, _ENCODER.encode(too_large.payload)
        elif self._count + 1 >= self._max_events or self._bytes + len(data) > self._max_bytes:
            return  # advisory events past the bounds are dropped; the ending carries the images
        self._count += 1
        self._bytes += len(data) if not event.terminal else 0
        self._seq += 1
        stored = StoredEvent(self._seq, event.name, data)
        if event.terminal:
            self.ending = stored
        self._queue.put_nowait(stored)

    def call(self, shard: int, record: CallRecord) -> None:
        self._queue.put_nowait(_Call(shard, record))

    async def close(self) -> None:
        """Everything emitted so far is written (or the job was lost)."""
        self._queue.put_nowait(None)
        await self._writer

    def abort(self) -> None:
        self._writer.cancel()

    async def _write_all(self) -> None:
        while (item := await self._queue.get()) is not None:
            if self.lost:
                continue
            for attempt in range(_WRITE_TRIES):
                try:
                    await self._write(item)
                    break
                except JobGone:
                    log.warning(
                        "job %s is held by another replica now; this runner stops writing", self._job_id
                    )
                    self.lost = True
                    break
                except RedisUnavailable as exc:
                    if attempt + 1 == _WRITE_TRIES:
                        log.warning("job %s: an event was not stored (%s)", self._job_id, exc)
                    else:
                        await asyncio.sleep(0.1 * (attempt + 1))

    async def _write(self, item: StoredEvent | _Call) -> None:
        if isinstance(item, _Call):
            await self._store.set_call(self._job_id, self._owner, item.shard, item.record)
        else:
            await self._store.append(self._job_id, self._owner, item, self._ttl)


class JobSink(SseSink):
    """The SSE sink, its events into the journal, each shard's call recorded for takeovers."""

    def __init__(self, journal: Journal, resume: dict[int, tuple[str, str]] | None = None) -> None:
        super().__init__(journal.emit)
        self._journal = journal
        self._resume = dict(resume or {})
        self._handles: dict[int, str] = {}

    def attempt(self, shard: Shard, provider: str) -> None:
        super().attempt(shard, provider)
        self._handles.pop(shard.index, None)
        self._journal.call(shard.index, CallRecord(provider=provider, state="calling"))

    def submitted(self, shard: Shard, provider: str, handle: str) -> None:
        self._handles[shard.index] = handle
        self._journal.call(shard.index, CallRecord(provider=provider, state="calling", handle=handle))

    def resume_handle(self, shard: Shard, provider: str) -> str | None:
        """The handle of a task this shard submitted before a takeover (once: a retry submits anew)."""
        resumed = self._resume.get(shard.index)
        if resumed is None or resumed[0] != provider:
            return None
        del self._resume[shard.index]
        self._handles[shard.index] = resumed[1]
        return resumed[1]

    def failed(self, shard: Shard, error: ProviderError) -> None:
        super().failed(shard, error)
        self._handles.pop(shard.index, None)
        record = CallRecord(provider=error.provider, state="failed", failure=error.failure.value)
        self._journal.call(shard.index, record)

    async def shard_done(self, shard: Shard, outcomes: list[ShardOutcome]) -> None:
        done = next((o for o in outcomes if o.result is not None and o.deployment is not None), None)
        if done is not None and done.deployment is not None:
            handle = self._handles.get(shard.index)
            record = CallRecord(provider=done.deployment.provider, state="done", handle=handle)
            self._journal.call(shard.index, record)
        await super().shard_done(shard, outcomes)


class _Index(msgspec.Struct):
    index: int = -1


async def announced_images(store: JobStore, job_id: str) -> set[int]:
    """The indexes of the `image` events a job already has (bounded by `jobs.max_events`): a
    resumed job does not announce them again."""
    seen: set[int] = set()
    after = 0
    while batch := await store.events(job_id, after, 256):
        seen.update(msgspec.json.decode(e.data, type=_Index).index for e in batch if e.name == "image")
        after = batch[-1].seq
    return seen


__all__ = ["Emit", "JobSink", "Journal", "announced_images"]
