"""Webhooks: delivered once the job ends, verified with the Standard Webhooks reference library;
a receiver answering 500 then 200 is retried; a bounded number of attempts; the delivery log."""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from litestar.testing import AsyncTestClient
from standardwebhooks import Webhook

from gateway.app import create_app
from gateway.config.jobs import WebhooksConfig
from gateway.jobs import webhooks
from gateway.settings import Settings
from tests.jobs.test_api import ASYNC, wait_for_status
from tests.support.app import MOCK_ROUTING, mock_config

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
# Loopback receivers are allowed here only: `allow_loopback` is the tests' opt-in.
ROUTING = MOCK_ROUTING + (
    "jobs: {heartbeat_seconds: 0.05, takeover_after_seconds: 1}\n"
    "webhooks: {allow_loopback: true, backoff_seconds: 0.01, max_attempts: 3}\n"
)


@dataclass
class Receiver:
    statuses: list[int]  # answers in order; the last one repeats
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        self.seen.append((headers, body))
        status = self.statuses[min(len(self.seen), len(self.statuses)) - 1]
        if 200 <= status < 300 or len(self.seen) >= 3:
            self.done.set()
        return status


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    hook = Receiver(list(request.param))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            self.send_response(hook.answer(dict(self.headers.items()), body))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/imagegate"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    monkeypatch.setenv("IMAGEGATE_WEBHOOK_SECRET", SECRET)
    async with AsyncTestClient(app=create_app(Settings(), config=mock_config(ROUTING))) as test_client:
        yield test_client


async def submit(client: AsyncTestClient, url: str) -> str:  # type: ignore[type-arg]
    body = {"model": "mock", "prompt": "a heron", "webhook_url": url}
    response = await client.post("/api/v1/image/generate", json=body, headers=ASYNC)
    assert response.status_code == 202, response.text
    return str(response.headers["location"])


async def wait_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 20), "no webhook arrived"


@pytest.mark.parametrize("receiver", [(200,)], indirect=True)
async def test_delivered_and_verified_with_the_reference_library(
    client: AsyncTestClient, receiver: Receiver
) -> None:  # type: ignore[type-arg]
    location = await submit(client, receiver.url)
    await wait_event(receiver.done)
    ((headers, body),) = receiver.seen
    payload = Webhook(SECRET).verify(body, headers)  # raises unless the signature is right
    assert payload["id"] == location.rsplit("/", 1)[1] and payload["status"] == "completed"
    assert payload["links"]["self"] == location
    image = payload["result"]["images"][0]
    assert "data_url" not in image and image["width"] > 0  # no image bytes: fetch links.self for them
    assert headers["webhook-id"] == f"msg_{payload['id']}"
    tampered = body.replace(b"completed", b"Completed", 1)
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(tampered, headers)
    job = await wait_for_status(client, location, {"completed"})
    for _ in range(100):  # the log entry is written right after the answer
        job = (await client.get(location)).json()
        if job["webhook"]["deliveries"]:
            break
        await asyncio.sleep(0.01)
    assert job["webhook"]["url"] == receiver.url
    assert [(d["attempt"], d["outcome"], d["status"]) for d in job["webhook"]["deliveries"]] == [
        (1, "delivered", 200)
    ]


@pytest.mark.parametrize("receiver", [(500, 200)], indirect=True)
async def test_a_500_is_retried_with_the_same_id(client: AsyncTestClient, receiver: Receiver) -> None:  # type: ignore[type-arg]
    location = await submit(client, receiver.url)
    await wait_event(receiver.done)
    assert len(receiver.seen) == 2
    assert receiver.seen[0][0]["webhook-id"] == receiver.seen[1][0]["webhook-id"]
    for headers, body in receiver.seen:
        Webhook(SECRET).verify(body, headers)
    for _ in range(100):
        deliveries = (await client.get(location)).json()["webhook"]["deliveries"]
        if len(deliveries) == 2:
            break
        await asyncio.sleep(0.01)
    assert [(d["outcome"], d["status"]) for d in deliveries] == [("failed", 500), ("delivered", 200)]


@pytest.mark.parametrize("receiver", [(503,)], indirect=True)
async def test_attempts_are_bounded(client: AsyncTestClient, receiver: Receiver) -> None:  # type: ignore[type-arg]
    location = await submit(client, receiver.url)
    await wait_event(receiver.done)
    for _ in range(100):
        deliveries = (await client.get(location)).json()["webhook"]["deliveries"]
        if len(deliveries) == 3:
            break
        await asyncio.sleep(0.01)
    jobs = client.app.state.services.jobs
    for _ in range(200):  # the runner ends only when the delivery loop has given up
        if not jobs._tasks:
            break
        await asyncio.sleep(0.01)
    assert not jobs._tasks
    assert len(receiver.seen) == 3 and [d["outcome"] for d in deliveries] == ["failed"] * 3


async def test_no_secret_configured_refuses_webhook_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGEGATE_WEBHOOK_SECRET", raising=False)
    async with AsyncTestClient(app=create_app(Settings(), config=mock_config(ROUTING))) as client:
        body = {"model": "mock", "prompt": "x", "webhook_url": "http://127.0.0.1:9/x"}
        response = await client.post("/api/v1/image/generate", json=body, headers=ASYNC)
    assert response.status_code == 400 and response.json()["error"]["param"] == "webhook_url"


def test_signature_matches_the_reference_library() -> None:
    key = secrets.token_bytes(24)
    secret = "whsec_" + base64.b64encode(key).decode().rstrip("=")  # unpadded, as some operators write it
    body = b'{"id":"job-x","status":"completed"}'
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": webhooks.sign(key, "msg_1", stamp, body),
    }
    assert Webhook(secret).verify(body, headers) == {"id": "job-x", "status": "completed"}


def test_secret_read_from_the_configured_env(monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_bytes(32)
    monkeypatch.setenv("HOOK_SECRET", "whsec_" + base64.b64encode(key).decode())
    assert webhooks.secret_key(WebhooksConfig(secret_env="HOOK_SECRET")) == key
    monkeypatch.setenv("HOOK_SECRET", "whsec_!!not base64!!")
    assert webhooks.secret_key(WebhooksConfig(secret_env="HOOK_SECRET")) is None


async def test_delivery_connects_to_the_address_resolved_once() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async def public(host: str) -> list[str]:
        return ["93.184.216.34"]

    async def rebound(host: str) -> list[str]:
        return ["10.0.0.7"]

    config = WebhooksConfig(max_attempts=2, backoff_seconds=0.001)
    log: list[webhooks.WebhookAttempt] = []

    async def record(attempt: webhooks.WebhookAttempt) -> None:
        log.append(attempt)

    async def no_wait(seconds: float) -> None:
        return None

    key = secrets.token_bytes(32)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        sent = dict(msg_id="msg_1", key=key, config=config, record=record, sleep=no_wait)
        assert await webhooks.deliver(http, "https://hooks.example/x", b"{}", resolve=public, **sent)  # type: ignore[arg-type]
        assert seen[0].url.host == "93.184.216.34" and seen[0].headers["host"] == "hooks.example"
        assert seen[0].extensions["sni_hostname"] == "hooks.example"
        seen.clear()
        assert not await webhooks.deliver(http, "https://hooks.example/x", b"{}", resolve=rebound, **sent)  # type: ignore[arg-type]
    assert not seen  # a name rebound to a private address is never contacted
    assert [entry.outcome for entry in log] == ["delivered", "failed", "failed"]
    assert "private" in (log[-1].error or "")


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/x",
        "http://10.0.0.1/x",
        "https://169.254.169.254/latest",
        "https://[fd00::1]/x",
        "http://example.com/x",
        "https://192.168.1.10/x",
    ],
)
async def test_the_loopback_opt_in_allows_loopback_only(client: AsyncTestClient, url: str) -> None:  # type: ignore[type-arg]
    body = {"model": "mock", "prompt": "x", "webhook_url": url}
    response = await client.post("/api/v1/image/generate", json=body, headers=ASYNC)
    assert response.status_code == 400 and response.json()["error"]["param"] == "webhook_url"
