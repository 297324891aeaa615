"""The job service of one process: accept, run, heartbeat, cancel, take over, notify.

submit      store the job (`queued`) and run it here, as its owner, through the one pipeline
            (gateway/streaming/sink.py `produce` with a JobSink: the events of `stream: true`)
heartbeat   every `heartbeat_seconds` the runner renews its lease and reads the cancel flag
cancel      DELETE: the flag (any replica); the runner stops the work (upstream calls, polls)
reaper      every replica, every `heartbeat_seconds`: a job whose lease lapsed is claimed and
            resumed, re-run or failed (gateway/jobs/takeover.py); none runs past `max_age_seconds`
notify      the webhook, once the job has ended (gateway/jobs/webhooks.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable

import httpx
import msgspec

from gateway.canonical import OutputType
from gateway.errors import ServiceUnavailable
from gateway.generation import Delivery, Job, Result, Route
from gateway.jobs import takeover, webhooks
from gateway.jobs.journal import JobSink, Journal, announced_images
from gateway.jobs.memory import MemoryJobStore
from gateway.jobs.model import TERMINAL, JobSpec, JobState, JobView, WebhookAttempt, new_job_id, view
from gateway.jobs.redis_store import RedisJobStore
from gateway.jobs.store import JobGone, JobStore, StoredEvent
from gateway.metrics import JOB_DURATION, JOB_TAKEOVERS, JOBS
from gateway.redis import RedisBackend, RedisUnavailable
from gateway.routing.executor import Router
from gateway.runtime import Runtime
from gateway.schemas import ErrorDetail, ErrorResponse
from gateway.storage import ResultStorage
from gateway.stored_results import store_result
from gateway.streaming.sink import After, error_event, produce

log = logging.getLogger("imagegate.jobs")
ENDINGS = ("completed", "error")
_POLL_SECONDS = 0.2  # how often an events follower asks the store for more


class _Status(msgspec.Struct):
    status: str = "completed"


class JobService:
    def __init__(
        self,
        store: JobStore,
        runtime: Callable[[], Runtime],
        router: Router,
        storage: Callable[[], ResultStorage | None] = lambda: None,
    ) -> None:
        self.store = store
        self._runtime = runtime
        self._router = router
        self._storage = storage  # result storage (`output_type: url`), when configured
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tasks: dict[str, asyncio.Task[None]] = {}  # job id -> its runner (this process)
        self._work: dict[str, asyncio.Task[None]] = {}  # job id -> the pipeline run inside it
        self._stopping: dict[str, str] = {}  # job id -> why its work was stopped ("cancel" / "lost")
        self._reaper: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def open(
        cls,
        redis: RedisBackend | None,
        runtime: Callable[[], Runtime],
        router: Router,
        storage: Callable[[], ResultStorage | None] = lambda: None,
    ) -> JobService:
        store: JobStore = MemoryJobStore() if redis is None else RedisJobStore(redis)
        return cls(store, runtime, router, storage)

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())

    async def aclose(self) -> None:
        """Let running jobs finish for up to `jobs.shutdown_grace_seconds`, then stop the rest
        without ending them: another replica takes them over (by the takeover rules)."""
        running = list(self._tasks.values())
        if running:
            await asyncio.wait(running, timeout=self._runtime().config.jobs.shutdown_grace_seconds)
        tasks = [t for t in (self._reaper, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    # --- the API's side -------------------------------------------------------------------------

    async def submit(
        self, runtime: Runtime, job: Job, account: str, webhook_url: str | None, base_url: str = ""
    ) -> JobSpec:
        cfg = runtime.config.jobs
        if len(self._tasks) >= cfg.max_running:
            raise ServiceUnavailable(
                "too many jobs running on this replica", retry_after=cfg.heartbeat_seconds
            )
        spec = JobSpec(
            id=new_job_id(),
            account=account,
            created=int(time.time()),
            operation=job.operation,
            slug=job.route.slug,
            request=job.request,
            request_id=job.request_id,
            webhook_url=webhook_url,
            base_url=base_url,
        )
        lease = time.time() + cfg.takeover_after_seconds
        keep = int(cfg.max_age_seconds) + cfg.ttl_seconds
        await self.store.create(spec, owner=self.owner, lease_until=lease, ttl_seconds=keep)
        JOBS.labels("queued").inc()
        self._launch(spec, runtime, resume={}, first_seq=0)
        return spec

    async def load(self, job_id: str, account: str) -> JobView | None:
        """The job object, or None when it does not exist or belongs to another account."""
        state = await self.store.get(job_id)
        if state is None or not _same(state.spec.account, account):
            return None
        return await self._view(state)

    async def cancel(self, job_id: str, account: str) -> JobView | None:
        state = await self.store.get(job_id)
        if state is None or not _same(state.spec.account, account):
            return None
        if await self.store.cancel(job_id, int(time.time())) == "canceled":
            self._stop(job_id, "cancel")  # ours: stop now, not at the next heartbeat
        fresh = await self.store.get(job_id)
        return await self._view(fresh or state)

    async def follow(self, job_id: str, after: int, heartbeat: float) -> AsyncIterator[StoredEvent | None]:
        """The job's events after `after`, until its ending; None every `heartbeat` s of silence."""
        quiet = 0.0
        while True:
            events = await self.store.events(job_id, after, 64)
            for event in events:
                yield event
                after = event.seq
                if event.name in ENDINGS:
                    return
            if events:
                quiet = 0.0
                continue
            if quiet >= heartbeat:
                quiet = 0.0
                if await self.store.get(job_id) is None:
                    return  # expired meanwhile
                yield None
            await asyncio.sleep(_POLL_SECONDS)
            quiet += _POLL_SECONDS

    async def _view(self, state: JobState) -> JobView:
        result: msgspec.Raw | None = None
        error: ErrorDetail | None = None
        if state.status in TERMINAL:
            last = await self.store.last_event(state.spec.id)
            if last is not None and last.name == "completed":
                result = msgspec.Raw(last.data)
            elif last is not None and last.name == "error":
                error = msgspec.json.decode(last.data, type=ErrorResponse).error
            elif state.status == "canceled":
                error = ErrorDetail(code="canceled", message="the job was canceled")
        return view(state, result, error)

    # --- running ----------------------------------------------------------------------------------

    def _launch(
        self, spec: JobSpec, runtime: Runtime, *, resume: dict[int, tuple[str, str]], first_seq: int
    ) -> None:
        task = asyncio.create_task(self._run(spec, runtime, resume, first_seq))
        self._tasks[spec.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(spec.id, None))

    def _journal(self, spec: JobSpec, runtime: Runtime, first_seq: int) -> Journal:
        cfg = runtime.config.jobs
        keep = int(cfg.max_age_seconds) + cfg.ttl_seconds
        return Journal(
            self.store,
            spec.id,
            self.owner,
            first_seq=first_seq,
            max_events=cfg.max_events,
            max_bytes=cfg.max_stored_bytes,
            ttl=keep,
        )

    async def _run(
        self, spec: JobSpec, runtime: Runtime, resume: dict[int, tuple[str, str]], first_seq: int
    ) -> None:
        journal = self._journal(spec, runtime, first_seq)
        try:
            if first_seq:
                journal.announced = await announced_images(self.store, spec.id)
            await self._execute(spec, runtime, journal, resume)
            await self._conclude(spec, runtime, journal)
        except asyncio.CancelledError:
            journal.abort()  # shutting down: the job is left to another replica's reaper
            raise
        except (RedisUnavailable, JobGone) as exc:
            journal.abort()
            log.warning("job %s: left to a takeover (%s)", spec.id, exc)
        except Exception:
            journal.abort()
            log.exception("job %s: the runner failed", spec.id)
        finally:
            self._stopping.pop(spec.id, None)

    async def _execute(
        self, spec: JobSpec, runtime: Runtime, journal: Journal, resume: dict[int, tuple[str, str]]
    ) -> None:
        resolved = runtime.config.resolve_model(spec.slug)
        if resolved is None:
            journal.emit(error_event("model_not_found", f"model {spec.slug!r} is no longer served"))
            return
        if await self.store.set_status(spec.id, self.owner, "running", int(time.time())) != "running":
            journal.emit(error_event("canceled", "the job was canceled"))
            return
        JOBS.labels("running").inc()
        job = Job(spec.operation, spec.request, Delivery.SSE, Route(*resolved), spec.request_id)
        after = self._store_images(spec) if spec.request.output_type is OutputType.URL else None
        sink = JobSink(journal, resume)
        work = asyncio.create_task(produce(runtime, job, self._router, journal.emit, sink, after))
        self._work[spec.id] = work
        beat = asyncio.create_task(self._heartbeat(spec.id, runtime))
        try:
            left = spec.created + runtime.config.jobs.max_age_seconds - time.time()
            done, _ = await asyncio.wait({work}, timeout=max(left, 0.0))
        finally:
            beat.cancel()
            self._work.pop(spec.id, None)
            if not work.done():
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
        reason = self._stopping.get(spec.id)
        if reason == "lost":
            raise JobGone(spec.id)
        if reason == "cancel":
            journal.emit(error_event("canceled", "the job was canceled"))
        elif not done:
            journal.emit(error_event("upstream_timeout", "the job ran longer than jobs.max_age_seconds"))

    def _store_images(self, spec: JobSpec) -> After:
        """`output_type: url`: the images go to the result storage, the job keeps links."""

        async def store(result: Result) -> Result:
            return await store_result(self._storage(), result, base_url=spec.base_url)

        return store

    def _stop(self, job_id: str, reason: str) -> None:
        work = self._work.get(job_id)
        if work is not None and not work.done():
            self._stopping.setdefault(job_id, reason)
            work.cancel()

    async def _heartbeat(self, job_id: str, runtime: Runtime) -> None:
        cfg = runtime.config.jobs
        while True:
            await asyncio.sleep(cfg.heartbeat_seconds)
            try:
                answer = await self.store.heartbeat(
                    job_id, self.owner, time.time() + cfg.takeover_after_seconds
                )
            except RedisUnavailable as exc:
                log.warning("job %s: heartbeat not stored (%s)", job_id, exc)
                continue
            if answer != "ok":
                self._stop(job_id, answer)
                return

    async def _conclude(self, spec: JobSpec, runtime: Runtime, journal: Journal) -> None:
        """Write the ending, set the final status, count it, send the webhook."""
        await journal.close()
        if journal.lost:
            raise JobGone(spec.id)
        ending = journal.ending
        status = "failed"
        if ending is not None and ending.name == "completed":
            status = msgspec.json.decode(ending.data, type=_Status).status
        elif ending is not None and b'"code":"canceled"' in ending.data:
            status = "canceled"
        cfg = runtime.config.jobs
        final = await self.store.finish(spec.id, self.owner, status, int(time.time()), cfg.ttl_seconds)
        JOBS.labels(final).inc()
        JOB_DURATION.labels(final).observe(max(time.time() - spec.created, 0.0))
        if spec.webhook_url is not None:
            await self._notify(spec, runtime)

    async def _notify(self, spec: JobSpec, runtime: Runtime) -> None:
        config = runtime.config.webhooks
        key = webhooks.secret_key(config)
        state = await self.store.get(spec.id)
        if key is None or state is None or spec.webhook_url is None:
            log.warning("job %s: webhook not sent (no signing secret in %s)", spec.id, config.secret_env)
            return
        body = webhooks.payload(await self._view(state))
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        ttl = runtime.config.jobs.ttl_seconds

        async def record(attempt: WebhookAttempt) -> None:
            with contextlib.suppress(RedisUnavailable):
                await self.store.add_delivery(spec.id, attempt, ttl)

        await webhooks.deliver(
            self._http, spec.webhook_url, body, msg_id=f"msg_{spec.id}", key=key, config=config, record=record
        )

    # --- takeover -----------------------------------------------------------------------------------

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._runtime().config.jobs.heartbeat_seconds)
            try:
                await self.reap_once()
            except RedisUnavailable as exc:
                log.warning("job reaper: %s", exc)
            except Exception:
                log.exception("job reaper failed")

    async def reap_once(self) -> int:
        """Claim and handle every job whose lease lapsed; how many were taken over."""
        runtime = self._runtime()
        cfg = runtime.config.jobs
        taken = 0
        now = time.time()
        for job_id in await self.store.expired(now, 32):
            if job_id in self._tasks:
                continue  # ours, only late with its heartbeat
            if await self.store.claim(job_id, self.owner, now, now + cfg.takeover_after_seconds):
                taken += 1
                await self._take_over(job_id, runtime)
        return taken

    async def _take_over(self, job_id: str, runtime: Runtime) -> None:
        state = await self.store.get(job_id)
        if state is None:
            return
        spec = state.spec
        last = await self.store.last_event(job_id)
        journal = self._journal(spec, runtime, 0 if last is None else last.seq)
        if last is not None and last.name in ENDINGS:
            journal.ending = last  # ended; only the final status was not written
            result = "finished"
        elif state.cancel or state.status == "canceled":
            journal.emit(error_event("canceled", "the job was canceled"))
            result = "finished"
        elif time.time() - spec.created > runtime.config.jobs.max_age_seconds:
            journal.emit(error_event("upstream_timeout", "the job ran longer than jobs.max_age_seconds"))
            result = "failed"
        else:
            decision = takeover.plan(
                await self.store.calls(job_id), takeover.idempotent_in(runtime, spec.slug)
            )
            if isinstance(decision, takeover.Resume):
                JOB_TAKEOVERS.labels("resumed").inc()
                log.warning("job %s: taken over from a stopped replica; resuming", job_id)
                journal.abort()
                self._launch(spec, runtime, resume=decision.handles, first_seq=journal_seq(last))
                return
            message = (
                f"the replica running this job stopped during a call to {decision.provider} whose outcome "
                "is unknown; it was not sent again (the provider is not marked idempotent)"
            )
            journal.emit(error_event("upstream_timeout", message))
            result = "failed"
        JOB_TAKEOVERS.labels(result).inc()
        log.warning("job %s: taken over from a stopped replica; ended (%s)", job_id, result)
        await self._conclude(spec, runtime, journal)


def _same(owner: str, account: str) -> bool:
    return hmac.compare_digest(owner.encode(), account.encode())  # bytes: any account text compares


def journal_seq(last: StoredEvent | None) -> int:
    return 0 if last is None else last.seq
