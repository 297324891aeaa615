"""Jobs across replicas: 2 `imagegate serve` processes on one real redis-server.

Events resumed with Last-Event-ID on the other replica; the runner SIGKILLed mid-BFL-poll -> the
other replica resumes polling and the job completes with exactly one submit; SIGKILLed during an
ambiguous OpenAI call -> `failed`, zero re-submits; nothing left running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.jobs.test_api import parse_sse
from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.fake_upstream import Behaviour, FakeUpstream, Fault
from tests.reliability.scenario import routing_yaml, scrape

pytestmark = pytest.mark.slow

GENERATE = "/api/v1/image/generate"
ASYNC = {"Prefer": "respond-async"}
KEY_ENV = "JOBS_FAKE_OPENAI_KEY"
JOBS = {"heartbeat_seconds": 0.2, "takeover_after_seconds": 1.0}


def config(upstream: FakeUpstream) -> str:
    providers = {
        "bfl": {
            "adapter": "flux",
            "settings": {
                "base_url": upstream.url,
                "api_key": "bfl-test-key",
                "allow_private_base_url": True,
                "poll_interval_seconds": 0.05,
            },
        },
        "oai": {
            "adapter": "openai",
            "base_url": upstream.url + "/v1",
            "settings": {"api_key": "${" + KEY_ENV + "}", "family": "compatible"},
        },
        "mock": {"adapter": "mock", "settings": {"max_n": 4, "stream_steps": 6, "latency_ms": 600}},
    }
    models = {
        "flux-image": {"deployments": [{"provider": "bfl", "model": "flux-pro-1.1"}], "deadline_seconds": 60},
        "oai-image": {"deployments": [{"provider": "oai", "model": "fake-image-1"}], "deadline_seconds": 60},
        "mock-image": {"deployments": [{"provider": "mock", "model": "mock-v1"}]},
    }
    return routing_yaml(providers=providers, models=models, jobs=JOBS)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def final_job(url: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        response = httpx.get(url, timeout=5)
        if response.status_code == 503:  # the store was slow for a moment (a busy box): ask again
            return None
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job if job["status"] in ("completed", "partial", "failed", "canceled") else None

    return wait_until(ended, 30.0, "the job to end")  # type: ignore[no-any-return]


def call_record(redis: ControlledRedis, job_id: str) -> dict[str, Any] | None:
    raw = redis.client().hget(f"ig:job:{{{job_id}}}", "call:0")
    return None if raw is None else msgspec.json.decode(raw)


def start(tmp_path: Path, upstream: FakeUpstream, redis: ControlledRedis) -> GatewayCluster:
    env = {KEY_ENV: "sk-fake-jobs-key"}
    return GatewayCluster(
        2, config(upstream), tmp_path, redis_url=redis.url, extra_env=env, log_level="warning"
    )


def test_events_resume_with_last_event_id_on_another_replica(
    tmp_path: Path, fake_upstream: FakeUpstream, own_redis: ControlledRedis
) -> None:
    with start(tmp_path, fake_upstream, own_redis) as cluster:
        a, b = cluster.urls
        accepted = httpx.post(a + GENERATE, json={"model": "mock-image", "prompt": "fox"}, headers=ASYNC)
        assert accepted.status_code == 202, accepted.text
        events = accepted.json()["links"]["events"]
        seen: list[str] = []
        with httpx.stream("GET", a + events, timeout=10) as stream:  # disconnect after two events
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    seen.append(line[4:])
                if len(seen) == 2:
                    break
        rest = parse_sse(httpx.get(b + events, headers={"Last-Event-ID": seen[-1]}, timeout=30).text)
        full = parse_sse(httpx.get(b + events, timeout=30).text)
        assert [str(seq) for seq, _, _ in full[:2]] == seen
        assert rest == full[2:] and rest[-1][1] == "completed"
        assert httpx.get(b + accepted.headers["location"]).json()["status"] == "completed"


def test_runner_killed_mid_bfl_poll_is_resumed_with_one_submit(
    tmp_path: Path, fake_upstream: FakeUpstream, own_redis: ControlledRedis
) -> None:
    fake_upstream.configure(Behaviour(bfl_polls_pending=10**9))  # Pending until we say otherwise
    with start(tmp_path, fake_upstream, own_redis) as cluster:
        runner, other = cluster.gateways
        accepted = httpx.post(
            runner.url + GENERATE, json={"model": "flux-image", "prompt": "kill-bfl"}, headers=ASYNC
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        record = wait_until(
            lambda: (call_record(own_redis, job_id) or {}).get("handle"), what="the submitted task"
        )
        assert "get_result" in record
        polls_before = wait_until(
            lambda: fake_upstream.snapshot().polls >= 2 and fake_upstream.snapshot().polls
        )
        assert runner.process is not None
        runner.process.kill()  # SIGKILL: no goodbye, no final write
        runner.process.wait(5)
        killed_at = time.monotonic()
        fake_upstream.configure(Behaviour(bfl_polls_pending=0))  # the task is ready now
        job = final_job(other.url + accepted.headers["location"])
        assert job["status"] == "completed", job
        stats = fake_upstream.snapshot()
        assert stats.submits_by_prompt["kill-bfl"] == 1  # exactly one submit: polling was resumed
        assert stats.polls > polls_before
        resumed_at = max(r.at for r in stats.requests if "get_result" in r.path)
        print(f"time to takeover (kill -> resumed poll answered): {resumed_at - killed_at:.2f} s")
        replay = parse_sse(httpx.get(other.url + accepted.json()["links"]["events"], timeout=10).text)
        assert [seq for seq, _, _ in replay] == list(range(1, len(replay) + 1))
        assert replay[-1][1] == "completed" and len(replay[-1][2]["images"]) == 1
        metrics = scrape(other.url)
        assert metrics.get('imagegate_job_takeovers_total{result="resumed"}') == 1.0
        wait_until(lambda: own_redis.client().zcard("ig:jobs:active") == 0, what="nothing left running")


def test_runner_killed_during_an_ambiguous_openai_call_fails_without_resubmit(
    tmp_path: Path, fake_upstream: FakeUpstream, own_redis: ControlledRedis
) -> None:
    fake_upstream.configure(Behaviour(script=(Fault(kind="hang"),)))  # the call is sent, never answered
    with start(tmp_path, fake_upstream, own_redis) as cluster:
        runner, other = cluster.gateways
        accepted = httpx.post(
            runner.url + GENERATE, json={"model": "oai-image", "prompt": "kill-oai"}, headers=ASYNC
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        wait_until(lambda: fake_upstream.snapshot().submits_by_prompt["kill-oai"] == 1, what="the submit")
        wait_until(
            lambda: (call_record(own_redis, job_id) or {}).get("state") == "calling", what="the call record"
        )
        assert runner.process is not None
        runner.process.kill()
        runner.process.wait(5)
        job = final_job(other.url + accepted.headers["location"])
        assert job["status"] == "failed" and job["error"]["code"] == "upstream_timeout", job
        assert "not sent again" in job["error"]["message"]
        assert fake_upstream.snapshot().submits_by_prompt["kill-oai"] == 1  # zero re-submits
        events = parse_sse(httpx.get(other.url + accepted.json()["links"]["events"], timeout=10).text)
        assert events[-1][1] == "error"
        wait_until(lambda: own_redis.client().zcard("ig:jobs:active") == 0, what="nothing left running")
        assert scrape(other.url).get('imagegate_job_takeovers_total{result="failed"}') == 1.0


def test_cancel_on_another_replica_stops_the_polling(
    tmp_path: Path, fake_upstream: FakeUpstream, own_redis: ControlledRedis
) -> None:
    fake_upstream.configure(Behaviour(bfl_polls_pending=10**9))
    with start(tmp_path, fake_upstream, own_redis) as cluster:
        runner, other = cluster.urls
        accepted = httpx.post(
            runner + GENERATE, json={"model": "flux-image", "prompt": "cancel-me"}, headers=ASYNC
        )
        location = accepted.headers["location"]
        wait_until(lambda: fake_upstream.snapshot().polls >= 2, what="polling")
        canceled = httpx.delete(other + location)
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        events = parse_sse(httpx.get(other + accepted.json()["links"]["events"], timeout=10).text)
        assert events[-1][1] == "error" and events[-1][2]["error"]["code"] == "canceled"
        # The runner wrote the ending only after stopping its work: no poll is made after this one.
        stopped = fake_upstream.snapshot().polls
        wait_until(
            lambda: own_redis.client().zcard("ig:jobs:active") == 0, what="the job to leave the active set"
        )
        time.sleep(0.3)  # six poll intervals: a poll loop still running would show here
        assert fake_upstream.snapshot().polls <= stopped + 1  # at most one already on the wire
        assert fake_upstream.snapshot().submits_by_prompt["cancel-me"] == 1
