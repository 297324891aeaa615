"""The routing engine through the HTTP app: attempts in the response, /readyz circuits, metrics,
and a client that disconnects mid-generation."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from gateway import metrics
from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings

URL = "/api/v1/image/generate"
ROUTING = """
providers:
  primary:
    adapter: mock
    settings: {script: [transient, transient, transient, ok]}
  backup: {adapter: mock}
  slow: {adapter: mock, settings: {latency_ms: 30000}}
models:
  img:
    deployments:
      - {provider: primary, model: p-1}
      - {provider: backup, model: b-1}
  slow-img:
    deployments: [{provider: slow, model: s-1}]
retry: {attempts: 3, backoff_base_seconds: 0.01}
circuit_breaker: {consecutive_failures: 3, open_seconds: 600}
auth: {enabled: false}
"""


async def test_fallback_attempts_circuit_in_readyz_and_metrics() -> None:
    fallbacks = metrics.FALLBACKS.labels("primary/p-1", "backup/b-1", "transient")
    retries = metrics.RETRIES.labels("primary/p-1", "transient")
    failed_calls = metrics.UPSTREAM_ATTEMPTS.labels("primary", "primary/p-1", "transient")
    circuit = metrics.CIRCUIT_TRANSITIONS.labels("primary/p-1", "open")
    before = [m._value.get() for m in (fallbacks, retries, failed_calls, circuit)]
    app = create_app(Settings(), config=parse_config(ROUTING))
    async with AsyncTestClient(app=app) as client:
        first = await client.post(URL, json={"model": "img", "prompt": "a fox", "width": 64, "height": 64})
        assert first.status_code == 200
        attempts = first.json()["provider_metadata"]["attempts"]
        assert [(a["deployment"], a["outcome"], a.get("status")) for a in attempts] == [
            ("primary/p-1", "transient", 503),
            ("primary/p-1", "transient", 503),
            ("primary/p-1", "transient", 503),
            ("backup/b-1", "ok", None),
        ]
        assert first.json()["provider_metadata"]["provider"] == "backup"
        ready = (await client.get("/readyz")).json()
        assert ready["routing"]["circuits"] == {"primary/p-1": "open"}  # three 503s in a row

        second = await client.post(URL, json={"model": "img", "prompt": "a fox", "width": 64, "height": 64})
        outcomes = [(a["deployment"], a["outcome"]) for a in second.json()["provider_metadata"]["attempts"]]
        assert outcomes == [("primary/p-1", "circuit_open"), ("backup/b-1", "ok")]
        assert app.state.services.runtime.adapters["primary"].calls == 3  # skipped, not called
    after = [m._value.get() for m in (fallbacks, retries, failed_calls, circuit)]
    # one fallback on 503s (the second request's is labelled circuit_open), two retries, three calls
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 2, 3, 1]
    assert metrics.FALLBACKS.labels("primary/p-1", "backup/b-1", "circuit_open")._value.get() >= 1
    assert metrics.CIRCUIT_STATE.labels("primary/p-1")._value.get() == 2


async def test_client_disconnect_cancels_the_upstream_call() -> None:
    app = create_app(Settings(), config=parse_config(ROUTING))
    async with AsyncTestClient(app=app):
        adapter = app.state.services.runtime.adapters["slow"]
        gone = asyncio.Event()
        body = b'{"model": "slow-img", "prompt": "a fox"}'
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1234), "server": ("testserver", 80), "state": {},
        }
        call = asyncio.ensure_future(app(scope, receive, send))  # type: ignore[arg-type]
        while adapter.calls == 0:
            await asyncio.sleep(0.01)
        gone.set()  # the client hangs up while the provider is still "generating" (30 s)
        await asyncio.wait_for(call, timeout=5)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()] == []
