"""The stability adapter against the Stability v2beta fake: the multipart form per endpoint, both
answer kinds (bytes with headers, JSON), CONTENT_FILTERED, and the documented error bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.stability import StabilityAdapter
from gateway.canonical import ImageRequest, OutputFormat, ProviderResult
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, Failure, ctx, fixture
from tests.fakes.stability import FakeStability, error_payload


async def _generate(fake: FakeStability, model: str, accept: str = "image", **fields: Any) -> ProviderResult:
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = StabilityAdapter(provider="stability", settings={"api_key": SECRET, "accept": accept}, client=client)
    try:
        return await adapter.generate(ImageRequest(model="m", prompt="a fox", **fields), ctx(model))
    finally:
        await client.aclose()


async def test_core_form_accept_image_and_seed_from_headers() -> None:
    fake = FakeStability()
    fields = {"aspect_ratio": (16, 9), "negative_prompt": "blurry", "seed": 11, "style_preset": "anime",
              "output_format": OutputFormat.WEBP, "guide_scale": 5.0}
    result = await _generate(fake, "core", **fields)
    (request,) = fake.requests
    assert str(request.url) == "https://api.stability.ai/v2beta/stable-image/generate/core"
    assert request.headers["authorization"] == f"Bearer {SECRET}" and request.headers["accept"] == "image/*"
    assert fake.forms == [{"prompt": "a fox", "output_format": "webp", "negative_prompt": "blurry", "seed": "11",
                           "aspect_ratio": "16:9", "style_preset": "anime"}]
    assert "guide_scale: not supported by this model; dropped" in result.warnings
    assert result.images[0].seed == 11 and result.raw["finish_reason"] == "SUCCESS"


async def test_sd3_form_with_model_mode_and_cfg_scale_accept_json() -> None:
    fake = FakeStability()
    result = await _generate(fake, "sd3.5-large", accept="json", guide_scale=20.0, seed=3)
    assert fake.requests[0].url.path.endswith("/generate/sd3")
    assert fake.requests[0].headers["accept"] == "application/json"
    assert fake.forms == [{"prompt": "a fox", "output_format": "png", "model": "sd3.5-large", "mode": "text-to-image",
                           "seed": "3", "cfg_scale": "10"}]
    assert any(w.startswith("guide_scale:") for w in result.warnings)  # clamped to 10
    assert result.images[0].seed == 3


@pytest.mark.parametrize("accept", ["image", "json"])
async def test_content_filtered_200_is_a_content_policy_refusal(accept: str) -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeStability(filtered=True), "ultra", accept=accept)
    assert info.value.failure is FailureClass.CONTENT_POLICY and info.value.provider_code == "CONTENT_FILTERED"


@pytest.mark.parametrize(
    ("payload", "status", "headers", "expected"),
    [
        (fixture("stability/error_403_content_moderation.json"), 403, {}, FailureClass.CONTENT_POLICY),
        (error_payload("unauthorized", "missing authorization header"), 401, {}, FailureClass.CREDENTIAL),
        (error_payload("payment_required", "lack sufficient credits"), 402, {}, FailureClass.QUOTA),
        (error_payload("bad_request", "aspect_ratio: invalid"), 400, {}, FailureClass.CALLER_FAULT),
        (error_payload("payload_too_large", "request too large"), 413, {}, FailureClass.CALLER_FAULT),
        (error_payload("rate_limit_exceeded", "150 requests in 10 s"), 429, {"retry-after": "60"}, FailureClass.RATE_LIMITED),
        (error_payload("internal_error", "try again"), 500, {}, FailureClass.TRANSIENT),
    ],
)
async def test_documented_errors(
    payload: dict[str, Any], status: int, headers: dict[str, str], expected: FailureClass
) -> None:
    fake = FakeStability(Failure(status=status, body=json.dumps(payload).encode(), headers=headers))
    with pytest.raises(ProviderError) as info:
        await _generate(fake, "core")
    assert info.value.failure is expected and info.value.provider_code == payload["name"]
    if status == 429:
        assert info.value.retry_after == 60.0


async def test_one_image_per_call_and_capabilities() -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeStability(), "core", n=2)
    assert info.value.failure is FailureClass.CALLER_FAULT
    caps = StabilityAdapter(provider="s", settings={}, client=httpx.AsyncClient()).capabilities("sd3.5-large")
    assert caps.max_n == 1 and caps.supports_seed and caps.supports_guidance and (21, 9) in (caps.aspect_ratios or [])
