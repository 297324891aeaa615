"""The replicate adapter against the predictions fake: the input per model table, `Prefer: wait`
then polling (progress from logs), string or list outputs, versioned models, failures, cancel on
disconnect, and where the key may go."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from adapters.replicate import ReplicateAdapter
from gateway.canonical import CallContext, ImageRequest, ProgressUpdate, ProviderResult
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, Failure, ctx
from tests.fakes.replicate import FakeReplicate, problem

SETTINGS = {"api_key": SECRET, "poll_interval_seconds": 0.0}


async def _generate(fake: FakeReplicate, model: str, context: CallContext | None = None, **fields: Any) -> ProviderResult:
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = ReplicateAdapter(provider="replicate", settings=SETTINGS, client=client)
    try:
        return await adapter.generate(ImageRequest(model="m", prompt="a fox", **fields), context or ctx(model))
    finally:
        await client.aclose()


async def test_flux_schnell_input_prefer_wait_and_list_output() -> None:
    fake = FakeReplicate()
    context = ctx("black-forest-labs/flux-schnell", seconds=300)
    fields: dict[str, Any] = {"n": 2, "aspect_ratio": (16, 9), "seed": 4, "steps": 9, "safe_mode": False}
    result = await _generate(fake, "black-forest-labs/flux-schnell", context, **fields)
    create = fake.requests[0]
    assert str(create.url) == "https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions"
    assert create.headers["authorization"] == f"Bearer {SECRET}"
    assert create.headers["prefer"] == "wait=60"  # Replicate's limit
    assert 200 < int(create.headers["cancel-after"].removesuffix("s")) <= 300  # the request's deadline
    assert fake.bodies == [{"input": {"prompt": "a fox", "output_format": "png", "num_outputs": 2, "aspect_ratio": "16:9",
                                      "seed": 4, "num_inference_steps": 4, "disable_safety_checker": True}}]
    assert any(w.startswith("steps:") for w in result.warnings)  # clamped to 4
    assert fake.polls == 0 and len(result.images) == 2
    assert all("authorization" not in r.headers for r in fake.requests[1:])  # downloads carry no key


async def test_still_running_after_wait_is_polled_with_progress() -> None:
    updates: list[object] = []
    context = CallContext(request_id="r", provider_model="black-forest-labs/flux-dev", deadline=time.monotonic() + 30,
                          report=updates.append)
    fake = FakeReplicate(held=3, single=True)
    result = await _generate(fake, "black-forest-labs/flux-dev", context, guide_scale=3.0)
    assert fake.polls == 3 and fake.bodies[0]["input"]["guidance"] == 3.0
    assert updates == [ProgressUpdate(step=50, total_steps=100), ProgressUpdate(step=100, total_steps=100)]
    assert len(result.images) == 1 and result.images[0].seed is not None


async def test_versioned_model_and_custom_size() -> None:
    fake = FakeReplicate()
    await _generate(fake, "black-forest-labs/flux-1.1-pro:abc123", width=1000, height=700)
    assert str(fake.requests[0].url) == "https://api.replicate.com/v1/predictions"
    body = fake.bodies[0]
    assert body["version"] == "abc123"
    assert {k: body["input"][k] for k in ("aspect_ratio", "width", "height")} == {"aspect_ratio": "custom", "width": 992, "height": 704}


@pytest.mark.parametrize("outcome", ["failed", "canceled", "aborted"])
async def test_failed_predictions_are_upstream_invalid(outcome: str) -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeReplicate(outcome=outcome), "black-forest-labs/flux-schnell")
    assert info.value.failure is FailureClass.UPSTREAM_INVALID and info.value.provider_code == outcome


async def test_client_disconnect_cancels_the_prediction() -> None:
    polled = asyncio.Event()
    fake = FakeReplicate(hang=True, on_poll=lambda number: polled.set() if number >= 2 else None)
    task = asyncio.create_task(_generate(fake, "black-forest-labs/flux-schnell"))
    await polled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.cancels == 1 and fake.requests[-1].url.path == "/v1/predictions/p1/cancel"


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (422, {}, FailureClass.CALLER_FAULT),
        (402, {}, FailureClass.QUOTA),
        (401, {}, FailureClass.CREDENTIAL),
        (404, {}, FailureClass.MODEL_UNAVAILABLE),
        (429, {"retry-after": "9"}, FailureClass.RATE_LIMITED),
    ],
)
async def test_documented_errors(status: int, headers: dict[str, str], expected: FailureClass) -> None:
    body = json.dumps(problem(status, "Input validation failed", "prompt is required")).encode()
    with pytest.raises(ProviderError) as info:
        await _generate(FakeReplicate(Failure(status=status, body=body, headers=headers)), "black-forest-labs/flux-schnell")
    assert info.value.failure is expected
    if status == 429:
        assert info.value.retry_after == 9.0


async def test_an_output_listing_more_urls_than_asked_downloads_only_those_asked() -> None:
    fake = FakeReplicate(extra=5)
    result = await _generate(fake, "black-forest-labs/flux-schnell", n=2)
    downloads = [r for r in fake.requests if r.url.host == "replicate.delivery"]
    assert len(downloads) == 2 and len(result.images) == 2  # not 7 fetches, each up to the byte cap
