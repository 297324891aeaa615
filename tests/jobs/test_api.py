"""Async jobs in one process (the embedded memory store): 202, polling, events, resume, cancel, 404s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.app import MOCK_ROUTING, mock_config

ASYNC = {"Prefer": "respond-async"}
ROUTING = (
    MOCK_ROUTING.replace("settings: {max_n: 4}", "settings: {max_n: 4, stream_steps: 3}")
    .replace("providers:\n", "providers:\n  slow:\n    adapter: mock\n    settings: {latency_ms: 60000}\n", 1)
    .replace(
        "models:\n", "models:\n  slow-image:\n    deployments:\n      - {provider: slow, model: mock-v1}\n", 1
    )
    + "jobs: {heartbeat_seconds: 0.05, takeover_after_seconds: 1}\n"
)


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(Settings(), config=mock_config(ROUTING))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def parse_sse(text: str) -> list[tuple[int, str, dict[str, object]]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            events.append((int(fields["id"]), fields["event"], msgspec.json.decode(fields["data"])))
    return events


async def wait_for_status(client: AsyncTestClient, location: str, wanted: set[str]) -> dict[str, object]:  # type: ignore[type-arg]
    for _ in range(500):
        job = (await client.get(location)).json()
        if job["status"] in wanted:
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise AssertionError(f"job never reached {wanted}: {job}")


async def test_202_then_completed_by_polling(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/image/generate", json={"model": "mock", "prompt": "a fox", "n": 2}, headers=ASYNC
    )
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{body['id']}"
    assert response.headers["preference-applied"] == "respond-async"
    assert body["status"] == "queued" and body["id"].startswith("job-")
    assert body["links"] == {
        "self": f"/api/v1/jobs/{body['id']}",
        "events": f"/api/v1/jobs/{body['id']}/events",
    }
    job = await wait_for_status(client, response.headers["location"], {"completed", "partial", "failed"})
    assert job["status"] == "completed" and job["error"] is None
    assert len(job["result"]["images"]) == 2
    assert job["result"]["images"][0]["data_url"].startswith("data:image/png;base64,")
    assert job["updated"] >= job["created"]


async def test_events_replay_from_the_first_and_resume_after_an_id(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/image/generate", json={"model": "mock", "prompt": "a fox"}, headers=ASYNC
    )
    events_url = response.json()["links"]["events"]
    full = parse_sse((await client.get(events_url)).text)
    assert [seq for seq, _, _ in full] == list(range(1, len(full) + 1))
    names = [name for _, name, _ in full]
    assert names[-1] == "completed" and "progress" in names and "image" in names
    image = next(data for _, name, data in full if name == "image")
    assert full[-1][2]["images"] == [image]  # the same grammar as `stream: true`
    resumed = parse_sse((await client.get(events_url, headers={"Last-Event-ID": str(full[1][0])})).text)
    assert resumed == full[2:]


async def test_validation_errors_stay_synchronous(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    bad = await client.post("/api/v1/image/generate", json={"model": "mock", "prompt": ""}, headers=ASYNC)
    assert bad.status_code == 400
    missing = await client.post(
        "/api/v1/image/generate", json={"model": "nope", "prompt": "x"}, headers=ASYNC
    )
    assert missing.status_code == 404


async def test_failed_job_carries_the_error(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/image/generate", json={"model": "dead-image", "prompt": "x"}, headers=ASYNC
    )
    job = await wait_for_status(client, response.headers["location"], {"completed", "failed"})
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "upstream_error"


async def test_cancel_stops_the_work(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/image/generate", json={"model": "slow-image", "prompt": "x"}, headers=ASYNC
    )
    location = response.headers["location"]
    await wait_for_status(client, location, {"running"})
    canceled = await client.delete(location)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    events = parse_sse((await client.get(f"{location}/events")).text)
    assert events[-1][1] == "error" and events[-1][2]["error"]["code"] == "canceled"
    services = client.app.state.services
    assert services.jobs is not None and not services.jobs._tasks  # the runner (and its call) ended
    assert (await client.get(location)).json()["status"] == "canceled"


async def test_unknown_and_malformed_ids_are_404(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    for path in (
        "/api/v1/jobs/job-" + "A" * 32,
        "/api/v1/jobs/nope",
        "/api/v1/jobs/job-" + "A" * 32 + "/events",
    ):
        response = await client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"
    assert (await client.delete("/api/v1/jobs/nope")).status_code == 404


async def test_webhook_url_needs_prefer_async(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = {"model": "mock", "prompt": "x", "webhook_url": "https://example.com/hook"}
    response = await client.post("/api/v1/image/generate", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "webhook_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://localhost/x",
        "https://user:pw@example.com/x",
        "ftp://example.com/x",
    ],
)
async def test_private_or_non_https_webhook_url_is_refused(client: AsyncTestClient, url: str) -> None:  # type: ignore[type-arg]
    body = {"model": "mock", "prompt": "x", "webhook_url": url}
    response = await client.post("/api/v1/image/generate", json=body, headers=ASYNC)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "webhook_url"


async def test_edit_route_accepts_a_job() -> None:
    from tests.api.edit_routing import edit_config
    from tests.support.edit import data_url, picture

    body = {"model": "mock", "prompt": "paint it", "images": [{"b64": data_url(picture((96, 64)))}]}
    async with AsyncTestClient(app=create_app(Settings(), config=edit_config())) as client:
        response = await client.post("/api/v1/image/edit", json=body, headers=ASYNC)
        assert response.status_code == 202, response.text
        job = await wait_for_status(client, response.headers["location"], {"completed", "failed"})
    assert job["status"] == "completed"
    assert (job["result"]["images"][0]["width"], job["result"]["images"][0]["height"]) == (96, 64)


async def test_job_images_go_to_result_storage_when_asked(tmp_path: Path) -> None:
    from tests.storage.test_local import storage_yaml

    config = mock_config(ROUTING + storage_yaml(tmp_path))
    async with AsyncTestClient(app=create_app(Settings(), config=config)) as client:
        body = {"model": "mock", "prompt": "x", "n": 2, "output_type": "url"}
        response = await client.post("/api/v1/image/generate", json=body, headers=ASYNC)
        job = await wait_for_status(client, response.headers["location"], {"completed", "failed"})
        assert job["status"] == "completed"
        events = parse_sse((await client.get(response.json()["links"]["events"])).text)
        assert events[-1][2] == job["result"]
        for image in job["result"]["images"]:
            assert "data_url" not in image and "/api/v1/files/" in image["url"]
            link = urlsplit(image["url"])
            fetched = await client.get(f"{link.path}?{link.query}")
            assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")


async def test_same_idempotency_key_gets_the_same_job(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    headers = {**ASYNC, "Idempotency-Key": "job-key-1"}
    body = {"model": "mock", "prompt": "once"}
    first = await client.post("/api/v1/image/generate", json=body, headers=headers)
    second = await client.post("/api/v1/image/generate", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"


async def test_shutdown_lets_a_running_job_finish() -> None:
    routing = ROUTING.replace(
        "settings: {max_n: 4, stream_steps: 3}", "settings: {max_n: 4, latency_ms: 300}"
    )
    app = create_app(Settings(), config=mock_config(routing))
    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/api/v1/image/generate", json={"model": "mock", "prompt": "x"}, headers=ASYNC
        )
        jobs = app.state.services.jobs
        job_id = response.json()["id"]
    state = await jobs.store.get(job_id)  # the app has shut down: the job ran to its end first
    assert state is not None and state.status == "completed"
