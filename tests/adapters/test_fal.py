"""The fal adapter against the fal queue fake: the model input per table, queue -> status ->
result -> CDN download, progress from status logs, NSFW-flagged images, cancel on disconnect and
at the deadline, and where the key may go."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from adapters.fal import FalAdapter
from gateway.canonical import CallContext, ImageRequest, OutputFormat, ProgressUpdate, ProviderResult
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, Failure, ctx
from tests.fakes.fal import FakeFal

SETTINGS = {"api_key": SECRET, "poll_interval_seconds": 0.0}


async def _generate(fake: FakeFal, model: str, context: CallContext | None = None, **fields: Any) -> ProviderResult:
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = FalAdapter(provider="fal", settings=SETTINGS, client=client)
    try:
        return await adapter.generate(ImageRequest(model="m", prompt="a fox", **fields), context or ctx(model))
    finally:
        await client.aclose()


async def test_flux_dev_input_queue_flow_and_download() -> None:
    fake = FakeFal()
    fields = {"n": 2, "width": 1024, "height": 768, "seed": 5, "steps": 30, "guide_scale": 4.0,
              "output_format": OutputFormat.JPEG, "negative_prompt": "blur"}
    result = await _generate(fake, "fal-ai/flux/dev", **fields)
    submit = fake.requests[0]
    assert str(submit.url) == "https://queue.fal.run/fal-ai/flux/dev"
    assert submit.headers["authorization"] == f"Key {SECRET}"
    assert json.loads(submit.content) == {
        "prompt": "a fox", "num_images": 2, "image_size": {"width": 1024, "height": 768}, "seed": 5,
        "num_inference_steps": 30, "guidance_scale": 4.0, "enable_safety_checker": True, "output_format": "jpeg",
    }
    assert "negative_prompt: not supported by this model; dropped" in result.warnings
    paths = [(r.method, r.url.host, r.url.path) for r in fake.requests]
    assert paths[1:4] == [("GET", "queue.fal.run", "/fal-ai/flux/requests/req-1/status")] * 3  # no subpath
    assert paths[4] == ("GET", "queue.fal.run", "/fal-ai/flux/requests/req-1")
    assert [p[1] for p in paths[5:]] == ["v3.fal.media", "v3.fal.media"]
    assert all("authorization" not in r.headers for r in fake.requests[5:])  # the key stays on the queue host
    assert len(result.images) == 2 and all(i.seed is None for i in result.images)  # one seed for a batch


async def test_fast_sdxl_table_negative_prompt_and_format_field() -> None:
    fake = FakeFal()
    result = await _generate(fake, "fal-ai/fast-sdxl", negative_prompt="blur", safe_mode=False, seed=9)
    body = fake.inputs[0]
    assert body["negative_prompt"] == "blur" and body["format"] == "png" and body["enable_safety_checker"] is False
    assert result.images[0].seed == 9


async def test_progress_from_status_logs_when_streaming() -> None:
    updates: list[object] = []
    context = CallContext(
        request_id="r", provider_model="fal-ai/flux/dev", deadline=time.monotonic() + 30, report=updates.append
    )
    fake = FakeFal(pending=3)
    await _generate(fake, "fal-ai/flux/dev", context)
    assert all(r.url.params.get("logs") == "1" for r in fake.requests if r.url.path.endswith("/status"))
    assert updates == [ProgressUpdate(step=50, total_steps=100), ProgressUpdate(step=100, total_steps=100)]


async def test_nsfw_flagged_images_are_dropped_and_all_flagged_is_content_policy() -> None:
    result = await _generate(FakeFal(nsfw=1), "fal-ai/flux/dev", n=2)
    assert len(result.images) == 1  # fewer than asked: the executor asks again for the missing one
    with pytest.raises(ProviderError) as info:
        await _generate(FakeFal(nsfw=2), "fal-ai/flux/dev", n=2)
    assert info.value.failure is FailureClass.CONTENT_POLICY


async def test_client_disconnect_cancels_the_queued_request() -> None:
    polled = asyncio.Event()
    fake = FakeFal(hang=True, on_poll=lambda number: polled.set() if number >= 2 else None)
    task = asyncio.create_task(_generate(fake, "fal-ai/flux/dev"))
    await polled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.cancels == 1
    assert fake.requests[-1].method == "PUT" and fake.requests[-1].url.path.endswith("/req-1/cancel")


async def test_deadline_cancels_and_fails_as_deadline() -> None:
    fake = FakeFal(hang=True)
    context = CallContext(request_id="r", provider_model="fal-ai/flux/dev", deadline=time.monotonic() + 0.05)
    with pytest.raises(ProviderError) as info:
        await _generate(fake, "fal-ai/flux/dev", context)
    assert info.value.failure is FailureClass.DEADLINE and fake.cancels == 1


async def test_a_status_url_on_another_host_is_refused_before_the_key_is_sent() -> None:
    fake = FakeFal(foreign_status_url=True)
    with pytest.raises(ProviderError):
        await _generate(fake, "fal-ai/flux/dev")
    assert [r.url.host for r in fake.requests] == ["queue.fal.run"]


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (422, {"detail": [{"loc": ["body", "num_images"], "msg": "too many", "type": "less_than_equal"}]},
         FailureClass.CALLER_FAULT, "less_than_equal"),
        (422, {"detail": [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]},
         FailureClass.CONTENT_POLICY, "content_policy_violation"),
        (401, {"detail": "Invalid Key"}, FailureClass.CREDENTIAL, None),
        (403, {"detail": "User is locked"}, FailureClass.CREDENTIAL, None),
        (404, {"detail": "Application not found"}, FailureClass.MODEL_UNAVAILABLE, None),
    ],
)
async def test_documented_errors(status: int, body: dict[str, Any], expected: FailureClass, code: str | None) -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeFal(Failure(status=status, body=json.dumps(body).encode())), "fal-ai/flux/dev")
    assert info.value.failure is expected and info.value.provider_code == code


async def test_table_limits_and_capabilities() -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeFal(), "fal-ai/flux/dev", n=5)
    assert info.value.failure is FailureClass.CALLER_FAULT
    caps = FalAdapter(provider="f", settings={}, client=httpx.AsyncClient()).capabilities("fal-ai/fast-sdxl")
    assert caps.max_n == 8 and caps.supports_negative_prompt and caps.streaming


async def test_a_result_listing_more_images_than_asked_downloads_only_those_asked() -> None:
    fake = FakeFal(extra=5)
    result = await _generate(fake, "fal-ai/flux/dev", n=2)
    downloads = [r for r in fake.requests if r.url.host == "v3.fal.media"]
    assert len(downloads) == 2 and len(result.images) == 2  # not 7 CDN fetches, each up to the byte cap
