"""What a job is: its immutable spec, its wire views, the per-shard call record a takeover reads.

    JobSpec      what was asked (the canonical request, model slug, owner account, webhook URL)
    JobState     the spec plus what changed since (status, timestamps, owner lease, cancel flag)
    CallRecord   the last thing known of a shard's provider call (for takeover decisions)
    JobView      GET /api/v1/jobs/{id};  JobAccepted: the 202 body

Ids are `job-` + 32 url-safe characters of `secrets.token_urlsafe` (192 bits): unguessable, and a
path segment that is not of that shape is a 404 before any store lookup.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from gateway.canonical import ImageRequest, Operation
from gateway.schemas import ErrorDetail

JobStatus = Literal["queued", "running", "completed", "partial", "failed", "canceled"]
TERMINAL: frozenset[str] = frozenset({"completed", "partial", "failed", "canceled"})
JOBS_PATH = "/api/v1/jobs"
_ID = re.compile(r"^job-[A-Za-z0-9_-]{32}$")


def new_job_id() -> str:
    return "job-" + secrets.token_urlsafe(24)


def valid_job_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    account: str
    created: int  # unix seconds
    operation: Operation
    slug: str  # the canonical model the job was admitted for (re-resolved on takeover)
    request: ImageRequest
    request_id: str
    webhook_url: str | None = None
    base_url: str = ""  # the gateway's address as the client used it (links to stored results)


class CallRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A shard's last known call. `calling`: sent, no answer yet; `done`: images produced;
    `failed`: the call ended with `failure`. `handle`: a submitted task that can be polled again."""

    provider: str
    state: Literal["calling", "done", "failed"]
    handle: str | None = None
    failure: str | None = None


class WebhookAttempt(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One webhook delivery attempt (the job record's delivery log)."""

    attempt: int
    at: int  # unix seconds
    outcome: Literal["delivered", "failed"]
    status: int | None = None
    error: str | None = None


@dataclass(slots=True)
class JobState:
    spec: JobSpec
    status: str
    updated: int
    owner: str = ""
    lease_until: float = 0.0  # unix seconds; a running job whose lease passed may be taken over
    cancel: bool = False
    deliveries: list[WebhookAttempt] = field(default_factory=list)


class Links(msgspec.Struct, frozen=True, kw_only=True, rename={"self_": "self"}):
    self_: str
    events: str


def links(job_id: str) -> Links:
    return Links(self_=f"{JOBS_PATH}/{job_id}", events=f"{JOBS_PATH}/{job_id}/events")


class JobAccepted(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    created: int
    links: Links


class WebhookInfo(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    deliveries: list[WebhookAttempt]


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """The job object (spec/jobs.md); `result` is the generate response, as the sync path answers."""

    id: str
    status: str
    created: int
    updated: int
    result: msgspec.Raw | None
    error: ErrorDetail | None
    links: Links
    webhook: WebhookInfo | None = None


def view(state: JobState, result: msgspec.Raw | None, error: ErrorDetail | None) -> JobView:
    spec = state.spec
    webhook = (
        None if spec.webhook_url is None else WebhookInfo(url=spec.webhook_url, deliveries=state.deliveries)
    )
    return JobView(
        id=spec.id,
        status=state.status,
        created=spec.created,
        updated=state.updated,
        result=result,
        error=error,
        links=links(spec.id),
        webhook=webhook,
    )
