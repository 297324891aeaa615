"""The embedded default: jobs in this process's memory (one replica; nothing survives a restart)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.jobs.model import TERMINAL, CallRecord, JobSpec, JobState, WebhookAttempt
from gateway.jobs.store import JobGone, JobStore, StoredEvent


@dataclass(slots=True)
class _Entry:
    state: JobState
    expires: float
    events: list[StoredEvent] = field(default_factory=list)
    calls: dict[int, CallRecord] = field(default_factory=dict)
    active: bool = True


class MemoryJobStore(JobStore):
    kind = "memory"

    def __init__(self) -> None:
        self._jobs: dict[str, _Entry] = {}

    def _entry(self, job_id: str) -> _Entry | None:
        entry = self._jobs.get(job_id)
        if entry is not None and entry.expires <= time.time():
            del self._jobs[job_id]
            return None
        return entry

    def _owned(self, job_id: str, owner: str) -> _Entry:
        entry = self._entry(job_id)
        if entry is None or entry.state.owner != owner:
            raise JobGone(job_id)
        return entry

    def _sweep(self) -> None:
        now = time.time()
        for job_id in [j for j, e in self._jobs.items() if e.expires <= now]:
            del self._jobs[job_id]

    async def create(self, spec: JobSpec, *, owner: str, lease_until: float, ttl_seconds: int) -> None:
        self._sweep()
        state = JobState(
            spec=spec, status="queued", updated=spec.created, owner=owner, lease_until=lease_until
        )
        self._jobs[spec.id] = _Entry(state, expires=lease_until + ttl_seconds)

    async def get(self, job_id: str) -> JobState | None:
        entry = self._entry(job_id)
        return None if entry is None else entry.state

    async def set_status(self, job_id: str, owner: str, status: str, now: int) -> str:
        state = self._owned(job_id, owner).state
        if state.status not in TERMINAL:
            state.status, state.updated = status, now
        return state.status

    async def append(self, job_id: str, owner: str, event: StoredEvent, ttl_seconds: int) -> None:
        entry = self._owned(job_id, owner)
        if entry.events and event.seq <= entry.events[-1].seq:
            raise JobGone(job_id)
        entry.events.append(event)

    async def events(self, job_id: str, after: int, count: int) -> list[StoredEvent]:
        entry = self._entry(job_id)
        if entry is None:
            return []
        return [event for event in entry.events if event.seq > after][:count]

    async def last_event(self, job_id: str) -> StoredEvent | None:
        entry = self._entry(job_id)
        return entry.events[-1] if entry is not None and entry.events else None

    async def set_call(self, job_id: str, owner: str, shard: int, call: CallRecord) -> None:
        self._owned(job_id, owner).calls[shard] = call

    async def calls(self, job_id: str) -> dict[int, CallRecord]:
        entry = self._entry(job_id)
        return {} if entry is None else dict(entry.calls)

    async def heartbeat(self, job_id: str, owner: str, lease_until: float) -> str:
        entry = self._entry(job_id)
        if entry is None or entry.state.owner != owner:
            return "lost"
        entry.state.lease_until = lease_until
        return "cancel" if entry.state.cancel else "ok"

    async def cancel(self, job_id: str, now: int) -> str | None:
        entry = self._entry(job_id)
        if entry is None:
            return None
        state = entry.state
        if state.status not in TERMINAL:
            state.cancel, state.status, state.updated = True, "canceled", now
        return state.status

    async def finish(self, job_id: str, owner: str, status: str, now: int, ttl_seconds: int) -> str:
        entry = self._owned(job_id, owner)
        state = entry.state
        if state.status not in TERMINAL:
            state.status = status
        state.updated = now
        entry.active = False
        entry.expires = time.time() + ttl_seconds
        return state.status

    async def expired(self, now: float, limit: int) -> list[str]:
        self._sweep()
        found = [j for j, e in self._jobs.items() if e.active and e.state.lease_until <= now]
        return found[:limit]

    async def claim(self, job_id: str, owner: str, now: float, lease_until: float) -> bool:
        entry = self._entry(job_id)
        if entry is None or not entry.active or entry.state.lease_until > now:
            return False
        entry.state.owner, entry.state.lease_until = owner, lease_until
        return True

    async def add_delivery(self, job_id: str, delivery: WebhookAttempt, ttl_seconds: int) -> None:
        entry = self._entry(job_id)
        if entry is not None:
            entry.state.deliveries.append(delivery)
