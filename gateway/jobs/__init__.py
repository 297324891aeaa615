"""Async jobs (spec/jobs.md): `Prefer: respond-async`, events in the store, takeover, webhooks."""

from gateway.jobs.model import JOBS_PATH, JobAccepted, JobSpec, JobView, links, valid_job_id
from gateway.jobs.service import JobService
from gateway.jobs.store import JobStore, StoredEvent

__all__ = [
    "JOBS_PATH",
    "JobAccepted",
    "JobService",
    "JobSpec",
    "JobStore",
    "JobView",
    "StoredEvent",
    "links",
    "valid_job_id",
]
