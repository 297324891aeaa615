"""Local diffusion streaming: A1111 progress polling and ComfyUI websocket progress + previews."""

from __future__ import annotations

import httpx
import pytest

from gateway.schemas import GenerateResponse
from tests.fakes.a1111 import ProgressA1111
from tests.fakes.comfyui import WebSocketComfy
from tests.streaming.support import URL, Live, check_stream, collect, live_server, summary, wait_for

ROUTING = """
providers:
  sd: {adapter: local_diffusion, settings: {backend: a1111, base_url: "http://sd.local:7860", max_n: 1, poll_interval_seconds: 0}}
  comfy: {adapter: local_diffusion, settings: {backend: comfyui, base_url: "http://comfy.local:8188", poll_interval_seconds: 0}}
  mock: {adapter: mock, settings: {stream_steps: 1, stream_previews: 0}}
models:
  sd15: {deployments: [{provider: sd, model: v1-5-pruned-emaonly}]}
  sd-then-mock: {deployments: [{provider: sd, model: v1-5-pruned-emaonly}, {provider: mock, model: mock-v1}]}
  comfy: {deployments: [{provider: comfy, model: v1-5-pruned-emaonly.safetensors}]}
  comfy-then-mock: {deployments: [{provider: comfy, model: v1-5-pruned-emaonly.safetensors}, {provider: mock, model: mock-v1}]}
auth: {enabled: false}
# A failure after progress or a preview is an unknown outcome (spec/routing-policy.md); self-hosted
# backends bill nothing, so this file opts in to falling back on it (docs/streaming.md).
fallback: {on_ambiguous: fallback}
"""
BODY = {"prompt": "a red fox in snow", "width": 512, "height": 512, "seed": 7, "stream": True}
A1111_JOB = [
    ("progress", 0, 5, 20, None),
    ("partial_image", 0, "data:image/png"),
    ("progress", 0, 10, 20, None),
    ("partial_image", 0, "data:image/png"),
    ("progress", 0, 15, 20, None),
    ("partial_image", 0, "data:image/png"),
]
MOCK_TAIL = [("progress", 0, 0, 1, None), ("progress", 0, 1, 1, None), ("image", 0, "png"), ("completed", "completed", 1)]


class Hosts:
    def __init__(self, sd: ProgressA1111 | None = None, comfy: WebSocketComfy | None = None) -> None:
        self.sd, self.comfy = sd or ProgressA1111(), comfy or WebSocketComfy()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        fake = self.sd if request.url.host == "sd.local" else self.comfy
        return await fake.handle(request)


async def _serve(hosts: Hosts):  # type: ignore[no-untyped-def]
    server = live_server(ROUTING, httpx.AsyncClient(transport=httpx.MockTransport(hosts.handle)))
    live: Live = await server.__aenter__()
    live.adapter("comfy").connect_ws = hosts.comfy.connect  # type: ignore[attr-defined]
    return server, live


@pytest.fixture
async def env(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    hosts = Hosts(*getattr(request, "param", ()))
    server, live = await _serve(hosts)
    yield hosts, live
    await server.__aexit__(None, None, None)


# --- AUTOMATIC1111 -------------------------------------------------------------------------------


async def test_a1111_success_relays_polled_progress_and_previews(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    events = await collect(live.client, {**BODY, "model": "sd15"})
    assert summary(events) == [*A1111_JOB, ("image", 0, "png"), ("completed", "completed", 1)]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.images[0].seed == 7
    assert hosts.sd.calls == 1


@pytest.mark.parametrize("env", [(ProgressA1111(lambda call: "http_500"),)], indirect=True)
async def test_a1111_failure_before_the_image_falls_back(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    events = await collect(live.client, {**BODY, "model": "sd-then-mock"})
    steps = summary(events)
    notice = steps.index(("progress", 0, 0, None, "mock"))
    assert steps[: len(A1111_JOB)] == A1111_JOB
    assert set(steps[:notice]) <= {*A1111_JOB, ("progress", 0, 0, None, "sd")}  # retries of sd, if any
    assert steps[notice + 1 :] == MOCK_TAIL
    check_stream(events)
    assert hosts.sd.calls == 1 and hosts.sd.txt2img_cancelled == 0  # work had started: not re-sent


@pytest.mark.parametrize("env", [(ProgressA1111(lambda call: "ok" if call == 1 else "http_500"),)], indirect=True)
async def test_a1111_failure_after_the_first_image_ends_partial(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    events = await collect(live.client, {**BODY, "model": "sd15", "n": 2})
    steps = summary(events)
    assert steps[: len(A1111_JOB)] == A1111_JOB  # jobs run one by one
    # The first image is announced once proven to decode (off the event loop), so the second job's
    # first progress report may come before it.
    assert ("image", 0, "png") in steps
    assert steps[-1] == ("completed", "partial", 1)
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.error is not None
    assert hosts.sd.calls >= 2


@pytest.mark.parametrize("env", [(ProgressA1111(lambda call: "hang"),)], indirect=True)
async def test_a1111_disconnect_drops_the_job_and_stops_polling(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    async with live.client.stream("POST", URL, json={**BODY, "model": "sd15"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                break
    await wait_for(lambda: hosts.sd.txt2img_cancelled == 1)
    assert hosts.sd.calls == 1 and hosts.sd.polls_after_cancel == 0


# --- ComfyUI -------------------------------------------------------------------------------------


async def test_comfy_success_relays_our_progress_and_preview_only(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    events = await collect(live.client, {**BODY, "model": "comfy"})
    assert summary(events) == [
        ("progress", 0, 10, 20, None),
        ("partial_image", 0, "data:image/jpeg"),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    check_stream(events)
    (socket,) = hosts.comfy.sockets.values()
    assert socket.closed and socket.url.startswith("ws://comfy.local:8188/ws?clientId=")
    assert hosts.comfy.prompts[0]["client_id"] in socket.url
    assert hosts.comfy.cancels == []


@pytest.mark.parametrize("env", [(None, WebSocketComfy(lambda call: "error"))], indirect=True)
async def test_comfy_failure_before_the_image_falls_back(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    events = await collect(live.client, {**BODY, "model": "comfy-then-mock"})
    steps = summary(events)
    notice = steps.index(("progress", 0, 0, None, "mock"))
    assert steps[:2] == [("progress", 0, 10, 20, None), ("partial_image", 0, "data:image/jpeg")]
    assert steps[notice + 1 :] == MOCK_TAIL
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert response.provider_metadata.attempts[0].provider == "comfy"
    assert hosts.comfy.cancels == []  # a prompt that ended on its own is not interrupted


@pytest.mark.parametrize("env", [(None, WebSocketComfy(lambda call: "ok" if call == 1 else "error"))], indirect=True)
async def test_comfy_failure_after_the_first_image_ends_partial(env) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    events = await collect(live.client, {**BODY, "model": "comfy", "n": 2})
    steps = summary(events)
    assert [s for s in steps if s[0] in ("image", "completed")] == [("image", 0, "png"), ("completed", "partial", 1)]
    check_stream(events)
    assert hosts.comfy.calls >= 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ((None, WebSocketComfy(lambda call: "hang")), ("/interrupt", {"prompt_id": "prompt-1"})),
        ((None, WebSocketComfy(lambda call: "queued")), ("/queue", {"delete": ["prompt-1"]})),
    ],
    indirect=["env"],
)
async def test_comfy_disconnect_withdraws_only_our_prompt(env, expected) -> None:  # type: ignore[no-untyped-def]
    hosts, live = env
    async with live.client.stream("POST", URL, json={**BODY, "model": "comfy"}) as response:
        if expected[0] == "/interrupt":
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    break
        else:
            await wait_for(lambda: hosts.comfy.calls == 1)
    await wait_for(lambda: len(hosts.comfy.cancels) == 1)
    assert hosts.comfy.cancels == [expected]
    assert all(socket.closed for socket in hosts.comfy.sockets.values())
