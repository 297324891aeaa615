"""Async jobs over HTTP (spec/jobs.md): the 202 of `Prefer: respond-async`, and /api/v1/jobs/{id}.

POST (generate) + Prefer: respond-async   admitted as usual, then 202 + Location (accept below)
GET    /api/v1/jobs/{id}                  the job object (any replica; other accounts: 404)
GET    /api/v1/jobs/{id}/events           SSE: the `stream: true` grammar from the first event,
                                          `id:` on each, resumable with Last-Event-ID
DELETE /api/v1/jobs/{id}                  cancel (the runner stops the upstream work)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Response, delete, get
from litestar.params import PathParameter
from litestar.response import Stream

from gateway.api.admit import client_ip
from gateway.api.types import HttpRequest
from gateway.auth import Principal
from gateway.auth.api_keys import authenticate
from gateway.errors import GatewayError, InvalidRequest, ModelNotAllowed, ServiceUnavailable
from gateway.generation import Job
from gateway.jobs import JOBS_PATH, JobAccepted, JobService, JobView, links, valid_job_id
from gateway.jobs.webhooks import check_url
from gateway.redis import RedisUnavailable
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.streaming.events import HEARTBEAT
from gateway.streaming.response import SSE_HEADERS

_ENCODER = msgspec.json.Encoder()
_MAX_EVENT_ID = 10**12
JobId = Annotated[str, PathParameter(max_length=64)]


class JobNotFound(GatewayError):
    status_code = 404
    code = "job_not_found"


def prefers_async(request: HttpRequest) -> bool:
    """RFC 7240: `Prefer: respond-async` (any case, among other preferences, parameters ignored)."""
    for line in request.headers.getall("prefer", []):
        for preference in line.split(","):
            if preference.split(";", 1)[0].split("=", 1)[0].strip().lower() == "respond-async":
                return True
    return False


class AsyncJob(msgspec.Struct, frozen=True):
    """The request asked to be a job (`Prefer: respond-async`), and where to tell when it ends."""

    webhook_url: str | None = None


async def check_async(request: HttpRequest, runtime: Runtime, webhook_url: str | None) -> AsyncJob | None:
    """Before admission (a refused URL must not cost a nonce): is this request a job, and is its
    webhook_url acceptable (400 `param: webhook_url`)? None: answer synchronously."""
    wanted = prefers_async(request)
    if webhook_url is not None:
        if not wanted:
            raise InvalidRequest("webhook_url needs the header Prefer: respond-async", param="webhook_url")
        await check_url(webhook_url, runtime.config.webhooks)
    return AsyncJob(webhook_url) if wanted else None


async def accept(
    request: HttpRequest, runtime: Runtime, job: Job, principal: Principal, as_job: AsyncJob
) -> Response[bytes]:
    """Admitted: store the job, start it here, answer 202."""
    try:
        spec = await _jobs(request).submit(
            runtime, job, principal.account, as_job.webhook_url, base_url=str(request.base_url)
        )
    except RedisUnavailable as exc:
        raise ServiceUnavailable("the job store is unavailable", retry_after=1) from exc
    body = JobAccepted(id=spec.id, status="queued", created=spec.created, links=links(spec.id))
    headers = {"Location": f"{JOBS_PATH}/{spec.id}", "Preference-Applied": "respond-async"}
    return Response(_ENCODER.encode(body), status_code=202, media_type="application/json", headers=headers)


@get(f"{JOBS_PATH}/{{job_id:str}}", summary="An async job", operation_id="getJob")
async def get_job(request: HttpRequest, job_id: JobId) -> Response[bytes]:
    view = await _owned(request, job_id)
    return Response(_ENCODER.encode(view), media_type="application/json")


@delete(
    f"{JOBS_PATH}/{{job_id:str}}", status_code=200, summary="Cancel an async job", operation_id="cancelJob"
)
async def cancel_job(request: HttpRequest, job_id: JobId) -> Response[bytes]:
    await _owned(request, job_id)
    try:
        view = await _jobs(request).cancel(job_id, request.state.principal.account)
    except RedisUnavailable as exc:
        raise ServiceUnavailable("the job store is unavailable", retry_after=1) from exc
    if view is None:
        raise JobNotFound("no such job")
    return Response(_ENCODER.encode(view), media_type="application/json")


@get(f"{JOBS_PATH}/{{job_id:str}}/events", summary="An async job's events (SSE)", operation_id="jobEvents")
async def job_events(request: HttpRequest, job_id: JobId) -> Stream:
    await _owned(request, job_id)
    after = _last_event_id(request.headers.get("last-event-id"))
    services: Services = request.app.state.services
    heartbeat = services.runtime.config.server.stream_heartbeat_seconds
    jobs = _jobs(request)

    async def body() -> AsyncIterator[bytes]:
        async for event in jobs.follow(job_id, after, heartbeat):
            if event is None:
                yield HEARTBEAT
            else:
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.name.encode("ascii"), event.data)

    return Stream(body(), media_type="text/event-stream", headers=dict(SSE_HEADERS))


def _jobs(request: HttpRequest) -> JobService:
    services: Services = request.app.state.services
    assert services.jobs is not None, "the app's lifespan starts the job service"
    return services.jobs


async def _owned(request: HttpRequest, job_id: JobId) -> JobView:
    """The caller's job, authenticated as the generate route does; anything else is 404."""
    if not valid_job_id(job_id):
        raise JobNotFound("no such job")
    services: Services = request.app.state.services
    runtime = services.runtime
    jobs = _jobs(request)
    try:
        state = await jobs.store.get(job_id)
        slug = state.spec.slug if state is not None else ""
        try:
            principal = await authenticate(
                request.headers, client_ip(request), runtime.config.auth, services.authenticator, (slug,)
            )
        except ModelNotAllowed:
            raise JobNotFound("no such job") from None
        request.state.principal = principal
        view = await jobs.load(job_id, principal.account) if state is not None else None
    except RedisUnavailable as exc:
        raise ServiceUnavailable("the job store is unavailable", retry_after=1) from exc
    if view is None:
        raise JobNotFound("no such job")
    return view


def _last_event_id(value: str | None) -> int:
    if value is None or not value.strip().isdigit() or len(value.strip()) > 12:
        return 0
    return min(int(value.strip()), _MAX_EVENT_ID)
