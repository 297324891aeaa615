"""The harness itself: every fault mode of the fake upstream does what it says, and the process
helpers really share, pause, kill and restart one Redis. A scenario built on a fault that silently
does nothing would pass vacuously; these tests rule that out."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.cluster import ControlledRedis, GatewayCluster
from tests.reliability.fake_upstream import Behaviour, FakeUpstream, Fault, Latency

pytestmark = pytest.mark.reliability

GEN = "/v1/images/generations"


def post(upstream: FakeUpstream, prompt: str, timeout: float = 2.0) -> httpx.Response:
    return httpx.post(upstream.url + GEN, json={"prompt": prompt, "size": "64x64"}, timeout=timeout)


def test_ok_speaks_the_openai_images_shape(fake_upstream: FakeUpstream) -> None:
    response = httpx.post(fake_upstream.url + GEN, json={"prompt": "p", "n": 2, "size": "64x32"}, timeout=2)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"created", "data"} and len(body["data"]) == 2
    assert body["data"][0]["b64_json"].startswith("iVBOR")  # base64 of a PNG signature


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("reset_before_response", httpx.ReadError),
        ("reset_mid_body", (httpx.ReadError, httpx.RemoteProtocolError)),
        ("hang", httpx.ReadTimeout),
    ],
)
def test_transport_faults(fake_upstream: FakeUpstream, kind: str, expected: type[Exception]) -> None:
    fake_upstream.configure(Behaviour(script=(Fault(kind=kind),)))  # type: ignore[arg-type]
    with pytest.raises(expected):
        post(fake_upstream, kind, timeout=0.5)
    stats = fake_upstream.snapshot()
    assert stats.submits == 1 and stats.outcomes[kind] == 1


def test_body_faults(fake_upstream: FakeUpstream) -> None:
    script = (Fault(kind="malformed_json"), Fault(kind="no_image"), Fault(kind="wrong_content_type"))
    fake_upstream.configure(Behaviour(script=script))
    malformed, empty, html = (post(fake_upstream, str(i)) for i in range(3))
    with pytest.raises(ValueError):
        malformed.json()
    assert empty.json()["data"] == []
    assert html.headers["content-type"] == "text/html"


def test_slow_drip_delivers_a_valid_body_slowly(fake_upstream: FakeUpstream) -> None:
    fake_upstream.configure(
        Behaviour(script=(Fault(kind="slow_drip"),), drip_chunk_bytes=32, drip_interval_s=0.01)
    )
    started = time.monotonic()
    response = post(fake_upstream, "drip")
    assert response.json()["data"]
    assert time.monotonic() - started >= 0.01 * (len(response.content) // 32)


def test_status_with_retry_after_and_provider_error_body(fake_upstream: FakeUpstream) -> None:
    fake_upstream.configure(Behaviour(script=(Fault.status_code(429, retry_after=2),)))
    response = post(fake_upstream, "limited")
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_seeded_error_rate_is_reproducible_and_counted(fake_upstream: FakeUpstream) -> None:
    def run() -> list[int]:
        fake_upstream.configure(Behaviour(faults=((0.3, Fault.status_code(503)),), seed=11))
        with httpx.Client(base_url=fake_upstream.url, timeout=2) as client:
            return [client.post(GEN, json={"prompt": f"p{i}"}).status_code for i in range(100)]

    first, second = run(), run()
    assert first == second
    assert 15 <= first.count(503) <= 45
    stats = fake_upstream.snapshot()
    assert stats.submits == 200 and stats.outcomes["status_503"] == 2 * first.count(503)
    assert stats.duplicates() == {f"p{i}": 2 for i in range(100)}


def test_latency_and_peer_close_are_observed(fake_upstream: FakeUpstream) -> None:
    fake_upstream.configure(Behaviour(latency=Latency("fixed", 2000)))
    with pytest.raises(httpx.ReadTimeout):
        post(fake_upstream, "slow", timeout=0.3)
    deadline = time.monotonic() + 5
    while fake_upstream.snapshot().peer_closed_early < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = fake_upstream.snapshot()
    assert stats.peer_closed_early == 1 and stats.max_in_flight == 1 and stats.in_flight == 0


def test_bfl_submit_poll_download_flow(fake_upstream: FakeUpstream) -> None:
    fake_upstream.configure(Behaviour(bfl_polls_pending=2))
    with httpx.Client(timeout=2) as client:
        job = client.post(fake_upstream.url + "/v1/flux-pro-1.1", json={"prompt": "fox"}).json()
        states = [client.get(job["polling_url"]).json() for _ in range(3)]
        assert [s["status"] for s in states] == ["Pending", "Pending", "Ready"]
        image = client.get(states[-1]["result"]["sample"])
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    stats = fake_upstream.snapshot()
    assert (stats.submits, stats.polls, stats.downloads) == (1, 3, 1)


MOCK_ONLY = """
providers:
  mock: {adapter: mock, settings: {max_n: 4}}
models:
  mock-image:
    deployments: [{provider: mock, model: mock-v1}]
auth: {enabled: false}
"""


def readyz(url: str) -> tuple[int, float]:
    started = time.monotonic()
    return httpx.get(url + "/readyz", timeout=5).status_code, time.monotonic() - started


def test_replicas_share_one_redis_that_can_be_paused_killed_and_restarted(
    controlled_redis: ControlledRedis, tmp_path: Path
) -> None:
    with GatewayCluster(2, MOCK_ONLY, tmp_path, redis_url=controlled_redis.url) as cluster:
        assert [readyz(url)[0] for url in cluster.urls] == [200, 200]
        controlled_redis.pause()
        try:
            paused = [readyz(url) for url in cluster.urls]
        finally:
            controlled_redis.resume()
        assert [status for status, _ in paused] == [503, 503]
        assert [readyz(url)[0] for url in cluster.urls] == [200, 200]
        controlled_redis.kill()
        assert [readyz(url)[0] for url in cluster.urls] == [503, 503]
        controlled_redis.restart()
        assert [readyz(url)[0] for url in cluster.urls] == [200, 200]
    assert "store: redis" in cluster.logs()
