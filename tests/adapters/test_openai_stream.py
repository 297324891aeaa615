"""gpt-image native streaming through the gateway: partial images, fan-out, fallback, disconnect."""

from __future__ import annotations

import httpx

from gateway.schemas import GenerateResponse
from tests.fakes.openai import StreamingOpenAI
from tests.streaming.support import URL, check_stream, collect, live_server, summary, wait_for

ROUTING = """
providers:
  openai: {adapter: openai, settings: {api_key: sk-test-SECRET-0123456789, partial_images: 2}}
  mock: {adapter: mock, settings: {stream_steps: 1, stream_previews: 0}}
models:
  gpt-image-1: {deployments: [{provider: openai, model: gpt-image-1}]}
  gpt-then-mock: {deployments: [{provider: openai, model: gpt-image-1}, {provider: mock, model: mock-v1}]}
auth: {enabled: false}
"""
BODY = {"prompt": "a red fox in snow", "stream": True}
PARTIAL = ("partial_image", 0, "data:image/png")


def http_for(fake: StreamingOpenAI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))


async def test_success_relays_partial_images_then_the_image() -> None:
    fake = StreamingOpenAI()
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-image-1"})
    assert summary(events) == [PARTIAL, PARTIAL, ("image", 0, "png"), ("completed", "completed", 1)]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert response.provider_metadata.raw["type"] == "image_generation.completed"
    assert response.provider_metadata.raw["b64_json"] != events[-2].data  # elided, not the image
    assert fake.bodies == [
        {"model": "gpt-image-1", "prompt": "a red fox in snow", "n": 1, "output_format": "png", "stream": True, "partial_images": 2}
    ]
    assert fake.closed == 1
    assert "sk-test-SECRET" not in "".join(e.data for e in events)


async def test_n2_fans_out_one_streaming_call_per_image() -> None:
    fake = StreamingOpenAI()
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-image-1", "n": 2})
    check_stream(events)
    assert [(b["n"], b["stream"]) for b in fake.bodies] == [(1, True), (1, True)]
    steps = summary(events)
    for index in (0, 1):
        assert [s for s in steps if s[1] == index] == [("partial_image", index, "data:image/png")] * 2 + [
            ("image", index, "png")
        ]
    assert steps[-1] == ("completed", "completed", 2)


async def test_failure_before_any_preview_is_retried_then_falls_back() -> None:
    fake = StreamingOpenAI(lambda call: "http_500")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-then-mock", "seed": 5})
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert fake.calls == 3  # nothing was streamed, so an explicit 500 is retried (retry.attempts)
    assert [a.outcome for a in response.provider_metadata.attempts] == ["transient"] * 3 + ["ok"]


async def test_failure_after_a_preview_falls_back_when_on_ambiguous_allows_it() -> None:
    fake = StreamingOpenAI(lambda call: "error_event")
    async with live_server(ROUTING + "fallback: {on_ambiguous: fallback}\n", http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-then-mock", "seed": 5})
    steps = summary(events)
    notice = steps.index(("progress", 0, 0, None, "mock"))
    # openai's one attempt (previews were billed: never re-sent), then the failure
    assert steps[:notice] == [PARTIAL]
    assert steps[notice + 1 :] == [
        ("progress", 0, 0, 1, None),
        ("progress", 0, 1, 1, None),
        ("image", 0, "png"),
        ("completed", "completed", 1),
    ]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert response.provider_metadata.attempts[-1].provider == "mock"
    assert [a.outcome for a in response.provider_metadata.attempts[:-1]] == ["ambiguous"]
    assert fake.closed == fake.calls == 1


async def test_failure_after_the_first_image_ends_partial() -> None:
    fake = StreamingOpenAI(lambda call: "ok" if call == 1 else "http_500")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-image-1", "n": 2})
    steps = summary(events)
    assert [s for s in steps if s[0] != "progress"] == [PARTIAL, PARTIAL, ("image", 0, "png"), ("completed", "partial", 1)]
    response = check_stream(events)
    assert isinstance(response, GenerateResponse)
    assert response.error is not None and response.error.code == "upstream_error"


async def test_client_disconnect_closes_the_provider_stream() -> None:
    fake = StreamingOpenAI(lambda call: "hang")
    async with live_server(ROUTING, http_for(fake)) as live:
        async with live.client.stream("POST", URL, json={**BODY, "model": "gpt-image-1"}) as response:
            async for line in response.aiter_lines():
                if line == "event: partial_image":
                    break
        await wait_for(lambda: fake.closed == 1)
    assert fake.calls == 1  # nothing retried after the client left


async def test_connection_reset_mid_stream_is_an_unknown_outcome() -> None:
    fake = StreamingOpenAI(lambda call: "drop")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-image-1"})
    assert summary(events)[0] == PARTIAL
    assert summary(events)[-1] == ("error", "upstream_timeout")
    check_stream(events)


IDEMPOTENT = ROUTING.replace("partial_images: 2}}", "partial_images: 2}, idempotent: true}")


async def test_a_stream_failing_after_a_preview_is_not_sent_again() -> None:
    """Issue 14 item 6: the previews are billed, so a stream that fails after one is not re-sent to a
    deployment that is not `idempotent: true`; with the default `on_ambiguous: fail` it ends in 504."""
    for mode in ("error_event", "drop"):
        fake = StreamingOpenAI(lambda call, mode=mode: mode)  # type: ignore[misc]
        async with live_server(ROUTING, http_for(fake)) as live:
            events = await collect(live.client, {**BODY, "model": "gpt-then-mock"})
        assert summary(events) == [PARTIAL, ("error", "upstream_timeout")], mode
        check_stream(events)
        assert fake.calls == 1, mode  # exactly one submit; no fallback to mock either


async def test_an_idempotent_deployment_is_sent_again_after_a_failed_stream() -> None:
    fake = StreamingOpenAI(lambda call: "error_event" if call == 1 else "ok")
    async with live_server(IDEMPOTENT, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-image-1"})
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.status == "completed"
    assert fake.calls == 2
    assert [a.outcome for a in response.provider_metadata.attempts] == ["ambiguous", "ok"]


async def test_an_event_nested_too_deep_is_an_invalid_answer_not_an_adapter_crash() -> None:
    """A hostile stream's `data: [[[...` is a non-JSON event (upstream_invalid, fallback), not a
    RecursionError logged with a traceback as an adapter bug on every such event."""
    fake = StreamingOpenAI(lambda call: "nested_event")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-then-mock"})
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.status == "completed"
    assert [a.outcome for a in response.provider_metadata.attempts] == ["upstream_invalid", "ok"]
    assert fake.calls == 1
    assert "adapter error" not in (response.provider_metadata.attempts[0].message or "")  # not a crash


async def test_a_plain_json_answer_to_a_stream_is_an_invalid_answer_not_an_unknown_outcome() -> None:
    """A relay or compatible server that ignores `stream: true` and answers 200 JSON sent no event:
    "200 with no image" (upstream_invalid: fallback allowed), not ambiguous (504, no fallback)."""
    fake = StreamingOpenAI(lambda call: "json")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-then-mock"})
    response = check_stream(events)
    assert isinstance(response, GenerateResponse) and response.status == "completed"
    assert [a.outcome for a in response.provider_metadata.attempts] == ["upstream_invalid", "ok"]
    assert "text/event-stream" in (response.provider_metadata.attempts[0].message or "")


async def test_a_flood_of_partial_images_relays_at_most_openais_three() -> None:
    """partial_images is 0..3 (OpenAI's maximum): a server sending more previews than that does
    not get each one decoded and relayed to the client."""
    fake = StreamingOpenAI(lambda call: "flood")
    async with live_server(ROUTING, http_for(fake)) as live:
        events = await collect(live.client, {**BODY, "model": "gpt-image-1"})
    assert summary(events) == [PARTIAL] * 3 + [("image", 0, "png"), ("completed", "completed", 1)]
