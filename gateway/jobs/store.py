"""Where jobs live: an ABC with a memory twin (gateway/jobs/memory.py, the embedded default) and a
Redis implementation (gateway/jobs/redis_store.py) every replica shares.

A job is a record (spec, status, owner lease, cancel flag, call records, delivery log), an event
log numbered 1, 2, 3, ... (the SSE `id:`s; the last one is the job's `completed` or `error`) and a
membership in the active set while it is not finished. Every write of the runner is fenced by its
owner id: a runner that lost its lease (another replica took the job over) cannot write any more.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

from gateway.jobs.model import CallRecord, JobSpec, JobState, WebhookAttempt


class StoredEvent(NamedTuple):
    seq: int
    name: str
    data: bytes  # the event's JSON payload


class JobGone(Exception):
    """The writer is no longer the job's owner (taken over, or the job expired)."""


class JobStore(ABC):
    kind: str

    @abstractmethod
    async def create(self, spec: JobSpec, *, owner: str, lease_until: float, ttl_seconds: int) -> None:
        """A new job, `queued`, owned by `owner` until `lease_until` (unix seconds)."""

    @abstractmethod
    async def get(self, job_id: str) -> JobState | None: ...

    @abstractmethod
    async def set_status(self, job_id: str, owner: str, status: str, now: int) -> str:
        """Move a job this owner holds to `status` unless it is already finished; the status after."""

    @abstractmethod
    async def append(self, job_id: str, owner: str, event: StoredEvent, ttl_seconds: int) -> None:
        """Add the next event (raises JobGone when `owner` no longer holds the job)."""

    @abstractmethod
    async def events(self, job_id: str, after: int, count: int) -> list[StoredEvent]:
        """Up to `count` events numbered above `after`, in order."""

    @abstractmethod
    async def last_event(self, job_id: str) -> StoredEvent | None: ...

    @abstractmethod
    async def set_call(self, job_id: str, owner: str, shard: int, call: CallRecord) -> None: ...

    @abstractmethod
    async def calls(self, job_id: str) -> dict[int, CallRecord]: ...

    @abstractmethod
    async def heartbeat(self, job_id: str, owner: str, lease_until: float) -> str:
        """Renew the lease: "ok", "cancel" (a DELETE asked to stop) or "lost" (not ours any more)."""

    @abstractmethod
    async def cancel(self, job_id: str, now: int) -> str | None:
        """Flag the job canceled (status `canceled` unless finished); its status after, None if unknown."""

    @abstractmethod
    async def finish(self, job_id: str, owner: str, status: str, now: int, ttl_seconds: int) -> str:
        """Set the final status (a canceled job stays canceled), leave the active set, keep the job
        for `ttl_seconds`; the status it ended with."""

    @abstractmethod
    async def expired(self, now: float, limit: int) -> list[str]:
        """Active jobs whose lease passed (takeover candidates)."""

    @abstractmethod
    async def claim(self, job_id: str, owner: str, now: float, lease_until: float) -> bool:
        """Take over a job whose lease passed; True when this owner now holds it."""

    @abstractmethod
    async def add_delivery(self, job_id: str, delivery: WebhookAttempt, ttl_seconds: int) -> None: ...

    async def aclose(self) -> None:
        return None
