"""Takeover in one process (memory store, the BFL fake behind a mock transport): a job whose
runner vanished after submitting — and even after announcing its image — is resumed by polling
the recorded task, with no submit and no second `image` event; a call of unknown outcome is not
re-sent; a job past `max_age_seconds` is ended."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.canonical import ImageRequest, Operation
from gateway.config import parse_config
from gateway.jobs import JobService
from gateway.jobs.model import CallRecord, JobSpec, new_job_id
from gateway.jobs.store import StoredEvent
from gateway.settings import Settings
from tests.fakes.base import SECRET, fixture
from tests.fakes.bfl import FakeBFL
from tests.jobs.test_api import parse_sse, wait_for_status

ROUTING = f"""
providers:
  bfl: {{adapter: flux, settings: {{api_key: {SECRET}, poll_interval_seconds: 0}}}}
  oai: {{adapter: openai, settings: {{api_key: sk-test, family: compatible}}}}
models:
  flux: {{deployments: [{{provider: bfl, model: flux-pro-1.1}}]}}
  oai: {{deployments: [{{provider: oai, model: fake-image-1}}]}}
auth: {{enabled: false}}
jobs: {{heartbeat_seconds: 30, takeover_after_seconds: 60, max_age_seconds: 600}}
"""
POLLING_URL = fixture("bfl/submit_flux-pro-1.1_200.json")["polling_url"]


@pytest.fixture
async def setup() -> AsyncIterator[tuple[AsyncTestClient, JobService, FakeBFL]]:  # type: ignore[type-arg]
    fake = FakeBFL(pending_polls=1)
    http = httpx.AsyncClient(transport=fake.transport())
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as client:
        jobs = app.state.services.jobs
        assert jobs is not None
        yield client, jobs, fake
    await http.aclose()


async def orphan(jobs: JobService, slug: str, *, created: int | None = None) -> JobSpec:
    """A job whose runner ("gone") stopped heartbeating: its lease has passed."""
    spec = JobSpec(
        id=new_job_id(),
        account="anonymous",
        created=created or int(time.time()),
        operation=Operation.GENERATE,
        slug=slug,
        request=ImageRequest(model=slug, prompt="fox", seed=3),
        request_id="req-orphan",
    )
    await jobs.store.create(spec, owner="gone", lease_until=time.time() - 1, ttl_seconds=600)
    await jobs.store.set_status(spec.id, "gone", "running", spec.created)
    return spec


async def test_a_submitted_bfl_task_is_polled_not_resubmitted_and_its_image_not_repeated(
    setup: tuple[AsyncTestClient, JobService, FakeBFL],  # type: ignore[type-arg]
) -> None:
    client, jobs, fake = setup
    spec = await orphan(jobs, "flux")
    progress = b'{"index":0,"step":0,"total_steps":100}'
    image = (
        b'{"index":0,"data_url":"data:image/png;base64,AAAA","width":1,"height":1,"format":"png","seed":3}'
    )
    await jobs.store.append(spec.id, "gone", StoredEvent(1, "progress", progress), 600)
    await jobs.store.append(spec.id, "gone", StoredEvent(2, "image", image), 600)
    done = CallRecord(provider="bfl", state="done", handle=POLLING_URL)
    await jobs.store.set_call(spec.id, "gone", 0, done)
    assert await jobs.reap_once() == 1
    job = await wait_for_status(client, f"/api/v1/jobs/{spec.id}", {"completed", "failed"})
    assert job["status"] == "completed", job
    assert fake.calls == 0 and fake.polls >= 1  # polled the recorded task; never submitted
    events = parse_sse((await client.get(f"/api/v1/jobs/{spec.id}/events")).text)
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert [name for _, name, _ in events].count("image") == 1  # announced once, before the takeover
    assert events[-1][1] == "completed"


async def test_an_unanswered_call_is_not_resent(
    setup: tuple[AsyncTestClient, JobService, FakeBFL],  # type: ignore[type-arg]
) -> None:
    client, jobs, fake = setup
    spec = await orphan(jobs, "oai")
    await jobs.store.set_call(spec.id, "gone", 0, CallRecord(provider="oai", state="calling"))
    assert await jobs.reap_once() == 1
    job = await wait_for_status(client, f"/api/v1/jobs/{spec.id}", {"completed", "failed"})
    assert job["status"] == "failed" and job["error"]["code"] == "upstream_timeout"
    assert not fake.requests  # nothing was sent anywhere


async def test_a_job_past_its_max_age_is_ended(
    setup: tuple[AsyncTestClient, JobService, FakeBFL],  # type: ignore[type-arg]
) -> None:
    client, jobs, fake = setup
    spec = await orphan(jobs, "flux", created=int(time.time()) - 3600)
    assert await jobs.reap_once() == 1
    job = (await client.get(f"/api/v1/jobs/{spec.id}")).json()
    assert job["status"] == "failed" and "max_age_seconds" in job["error"]["message"]
    assert await jobs.reap_once() == 0 and not fake.requests


async def test_a_job_that_was_never_started_runs(
    setup: tuple[AsyncTestClient, JobService, FakeBFL],  # type: ignore[type-arg]
) -> None:
    client, jobs, fake = setup
    spec = await orphan(jobs, "flux")
    assert await jobs.reap_once() == 1
    job = await wait_for_status(client, f"/api/v1/jobs/{spec.id}", {"completed", "failed"})
    assert job["status"] == "completed" and fake.calls == 1
