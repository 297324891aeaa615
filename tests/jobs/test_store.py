"""The job store contract, on the memory twin and on a real Redis: fencing by owner, event order,
cancel, lease expiry and claim, finish; and the takeover plan (gateway/jobs/takeover.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from gateway.canonical import ImageRequest, Operation
from gateway.jobs.memory import MemoryJobStore
from gateway.jobs.model import CallRecord, JobSpec, WebhookAttempt, new_job_id, valid_job_id
from gateway.jobs.redis_store import RedisJobStore
from gateway.jobs.store import JobGone, JobStore, StoredEvent
from gateway.jobs.takeover import Refuse, Resume, plan
from gateway.redis import RedisBackend


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
        return
    backend = RedisBackend.from_url(request.getfixturevalue("redis_url"))
    await backend.client.flushdb()
    try:
        yield RedisJobStore(backend)
    finally:
        await backend.aclose()


def spec(account: str = "acct") -> JobSpec:
    request = ImageRequest(model="mock", prompt="a fox")
    return JobSpec(
        id=new_job_id(),
        account=account,
        created=int(time.time()),
        operation=Operation.GENERATE,
        slug="mock",
        request=request,
        request_id="req-1",
        webhook_url="https://example.com/h",
    )


async def test_lifecycle_and_fencing(store: JobStore) -> None:
    job = spec()
    await store.create(job, owner="a", lease_until=time.time() + 60, ttl_seconds=600)
    state = await store.get(job.id)
    assert state is not None and state.status == "queued" and state.spec == job
    assert await store.set_status(job.id, "a", "running", 1) == "running"
    await store.append(job.id, "a", StoredEvent(1, "progress", b'{"step":1}'), 600)
    await store.append(job.id, "a", StoredEvent(2, "completed", b"{}"), 600)
    with pytest.raises(JobGone):
        await store.append(job.id, "b", StoredEvent(3, "progress", b"{}"), 600)  # not the owner
    with pytest.raises(JobGone):
        await store.append(job.id, "a", StoredEvent(2, "progress", b"{}"), 600)  # the sequence moved on
    assert [e.seq for e in await store.events(job.id, 0, 10)] == [1, 2]
    assert await store.events(job.id, 1, 10) == [StoredEvent(2, "completed", b"{}")]
    assert await store.last_event(job.id) == StoredEvent(2, "completed", b"{}")
    await store.set_call(job.id, "a", 0, CallRecord(provider="bfl", state="calling", handle="https://x/poll"))
    assert (await store.calls(job.id))[0].handle == "https://x/poll"
    assert await store.finish(job.id, "a", "completed", 2, 60) == "completed"
    assert await store.expired(time.time() + 3600, 10) == []  # finished: not active any more
    await store.add_delivery(job.id, WebhookAttempt(attempt=1, at=1, outcome="delivered", status=200), 60)
    final = await store.get(job.id)
    assert final is not None and final.status == "completed" and len(final.deliveries) == 1
    assert await store.get(new_job_id()) is None


async def test_cancel_heartbeat_and_finish_keep_canceled(store: JobStore) -> None:
    job = spec()
    await store.create(job, owner="a", lease_until=time.time() + 60, ttl_seconds=600)
    await store.set_status(job.id, "a", "running", 1)
    assert await store.heartbeat(job.id, "a", time.time() + 60) == "ok"
    assert await store.cancel(job.id, 2) == "canceled"
    assert await store.heartbeat(job.id, "a", time.time() + 60) == "cancel"
    assert await store.heartbeat(job.id, "b", time.time() + 60) == "lost"
    assert await store.finish(job.id, "a", "failed", 3, 60) == "canceled"
    assert await store.cancel(job.id, 4) == "canceled"  # finished: unchanged
    assert await store.cancel(new_job_id(), 4) is None


async def test_expired_lease_is_claimed_once(store: JobStore) -> None:
    job = spec()
    now = time.time()
    await store.create(job, owner="a", lease_until=now - 1, ttl_seconds=600)
    live = spec()
    await store.create(live, owner="a", lease_until=now + 60, ttl_seconds=600)
    assert await store.expired(now, 10) == [job.id]
    assert await store.claim(job.id, "b", now, now + 10)
    assert not await store.claim(job.id, "c", now, now + 10)  # b holds a fresh lease now
    assert not await store.claim(live.id, "b", now, now + 10)
    assert await store.heartbeat(job.id, "a", now + 10) == "lost"  # the old runner is fenced off
    assert await store.expired(now, 10) == []


def test_job_ids_are_unguessable_and_checked() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(valid_job_id(i) for i in ids)
    for bad in ("job-", "job-../../etc", "job-" + "A" * 31, "JOB-" + "A" * 32, "job-" + "A" * 32 + "\n"):
        assert not valid_job_id(bad)


def never(provider: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        ({}, Resume({})),
        ({0: CallRecord(provider="bfl", state="calling", handle="u")}, Resume({0: ("bfl", "u")})),
        ({0: CallRecord(provider="bfl", state="done", handle="u")}, Resume({0: ("bfl", "u")})),
        ({0: CallRecord(provider="oai", state="calling")}, Refuse("oai")),
        ({0: CallRecord(provider="oai", state="done")}, Refuse("oai")),
        ({0: CallRecord(provider="oai", state="failed", failure="transient")}, Resume({})),
        ({0: CallRecord(provider="oai", state="failed", failure="ambiguous")}, Refuse("oai")),
        (
            {0: CallRecord(provider="bfl", state="failed", failure="upstream_invalid", handle=None)},
            Refuse("bfl"),
        ),
        (
            {
                0: CallRecord(provider="bfl", state="calling", handle="u"),
                1: CallRecord(provider="oai", state="calling"),
            },
            Refuse("oai"),
        ),
    ],
)
def test_takeover_plan(calls: dict[int, CallRecord], expected: Resume | Refuse) -> None:
    assert plan(calls, never) == expected


def test_takeover_reruns_an_idempotent_provider() -> None:
    calls = {0: CallRecord(provider="oai", state="calling")}
    assert plan(calls, lambda provider: provider == "oai") == Resume({})


async def test_a_finished_job_is_never_claimed(store: JobStore) -> None:
    job = spec()
    await store.create(job, owner="a", lease_until=time.time() + 60, ttl_seconds=600)
    await store.finish(job.id, "a", "completed", 1, 60)
    assert not await store.claim(job.id, "b", time.time() + 3600, time.time() + 3700)
    assert await store.expired(time.time() + 3600, 10) == []


async def test_the_journal_bounds_what_a_job_stores() -> None:
    from gateway.jobs.journal import Journal
    from gateway.schemas import ErrorResponse
    from gateway.streaming.events import ProgressEvent, StreamEvent
    from gateway.streaming.sink import error_event

    store = MemoryJobStore()
    job = spec()
    await store.create(job, owner="a", lease_until=time.time() + 60, ttl_seconds=600)
    journal = Journal(store, job.id, "a", first_seq=0, max_events=16, max_bytes=2048, ttl=600)
    for step in range(100):
        journal.emit(StreamEvent("progress", ProgressEvent(index=0, step=step, total_steps=100)))
    huge = error_event("x", "y" * 4096)  # an ending larger than max_bytes
    journal.emit(huge)
    journal.emit(StreamEvent("progress", ProgressEvent(index=0, step=1, total_steps=1)))  # after the end
    await journal.close()
    events = await store.events(job.id, 0, 1000)
    assert len(events) == 16 and [e.seq for e in events] == list(range(1, 17))
    assert sum(len(e.data) for e in events[:-1]) <= 2048
    ending = msgspec.json.decode(events[-1].data, type=ErrorResponse)
    assert events[-1].name == "error" and ending.error.code == "result_too_large"
