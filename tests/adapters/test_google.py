"""The google adapter against the Gemini API fake: exact bodies, refusals, filtered Imagen images,
google.rpc.Status errors, and Gemini's one-image-per-call fan-out through the executor."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import msgspec
import pytest

from adapters import google_translate
from adapters.google import GoogleAdapter
from gateway.canonical import ImageRequest, InputImage, ProviderResult, Resolution
from gateway.errors import FailureClass, ProviderError
from tests.fakes import google as fake_google
from tests.fakes.base import SECRET, Failure, ctx, json_response
from tests.fakes.google import FakeGoogle
from tests.routing.helpers import router_for, runtime_with
from tests.routing.helpers import run as run_routed
from tests.support.images import distinct_png

BASE = "https://generativelanguage.googleapis.com/v1beta/models/"


async def _generate(fake: FakeGoogle, model: str, options: dict[str, object] | None = None, **fields: Any) -> ProviderResult:
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = GoogleAdapter(provider="google", settings={"api_key": SECRET}, client=client)
    try:
        return await adapter.generate(ImageRequest(model="m", prompt="a fox", **fields), ctx(model, options=options))
    finally:
        await client.aclose()


async def test_gemini_body_carries_aspect_ratio_image_size_and_search() -> None:
    fake = FakeGoogle()
    fields = {"aspect_ratio": (16, 9), "resolution": Resolution.R4K, "enable_web_search": True, "seed": 5}
    result = await _generate(fake, "gemini-3-pro-image-preview", **fields)
    (request,) = fake.requests
    assert str(request.url) == BASE + "gemini-3-pro-image-preview:generateContent"
    assert request.headers["x-goog-api-key"] == SECRET
    assert json.loads(request.content) == {
        "contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"}},
        "tools": [{"google_search": {}}],
    }
    assert "seed: not supported by Google image models; dropped" in result.warnings
    assert len(result.images) == 1 and result.images[0].seed is None


async def test_imagen_body_and_person_generation_option() -> None:
    fake = FakeGoogle()
    result = await _generate(
        fake, "imagen-4.0-generate-001", {"person_generation": "allow_adult"}, n=3, width=2048, height=1152
    )
    (request,) = fake.requests
    assert str(request.url) == BASE + "imagen-4.0-generate-001:predict"
    assert json.loads(request.content) == {
        "instances": [{"prompt": "a fox"}],
        "parameters": {"sampleCount": 3, "aspectRatio": "16:9", "imageSize": "2K", "personGeneration": "allow_adult"},
    }
    assert len(result.images) == 3


async def test_gemini_makes_one_image_per_call() -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeGoogle(), "gemini-2.5-flash-image", n=2)
    assert info.value.failure is FailureClass.CALLER_FAULT
    adapter = GoogleAdapter(provider="g", settings={}, client=httpx.AsyncClient())
    assert adapter.capabilities("gemini-2.5-flash-image").max_n == 1
    assert adapter.capabilities("imagen-4.0-generate-001").max_n == 4


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "PROHIBITED_CONTENT", "STOP"])
async def test_gemini_refusal_without_image_is_content_policy(reason: str) -> None:
    with pytest.raises(ProviderError) as info:
        await _generate(FakeGoogle(blocked=reason), "gemini-2.5-flash-image")
    assert info.value.failure is FailureClass.CONTENT_POLICY and info.value.provider_code == reason


async def test_gemini_blocked_prompt_and_other_finish_reasons() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    with pytest.raises(ProviderError) as info:
        await _generate(_answering(blocked), "gemini-2.5-flash-image")
    assert info.value.failure is FailureClass.CONTENT_POLICY
    with pytest.raises(ProviderError) as info:
        await _generate(FakeGoogle(blocked="MAX_TOKENS"), "gemini-2.5-flash-image")
    assert info.value.failure is FailureClass.UPSTREAM_INVALID


async def test_imagen_filtered_images_are_omitted_and_all_filtered_is_content_policy() -> None:
    result = await _generate(FakeGoogle(filtered=1), "imagen-4.0-generate-001", n=3)
    assert len(result.images) == 2  # fewer than asked: the executor re-asks for the missing one
    with pytest.raises(ProviderError) as info:
        await _generate(FakeGoogle(blocked="x"), "imagen-4.0-generate-001", n=2)
    assert info.value.failure is FailureClass.CONTENT_POLICY


@pytest.mark.parametrize(
    ("payload", "status", "expected", "retry_after"),
    [
        (fake_google.API_KEY_INVALID, 400, FailureClass.CREDENTIAL, None),
        (fake_google.RATE_LIMITED, 429, FailureClass.RATE_LIMITED, 17.0),
        (fake_google.DAILY_QUOTA, 429, FailureClass.QUOTA, None),
        (fake_google.error_payload(400, "FAILED_PRECONDITION", "User location is not supported"), 400,
         FailureClass.MODEL_UNAVAILABLE, None),
        (fake_google.error_payload(400, "INVALID_ARGUMENT", "bad aspect"), 400, FailureClass.CALLER_FAULT, None),
        (fake_google.error_payload(503, "UNAVAILABLE", "overloaded"), 503, FailureClass.TRANSIENT, None),
    ],
)
async def test_documented_errors(
    payload: dict[str, Any], status: int, expected: FailureClass, retry_after: float | None
) -> None:
    fake = FakeGoogle(Failure(status=status, body=json.dumps(payload).encode()))
    with pytest.raises(ProviderError) as info:
        await _generate(fake, "gemini-2.5-flash-image")
    assert info.value.failure is expected and info.value.retry_after == retry_after
    assert SECRET not in info.value.message


async def test_n_three_on_gemini_fans_out_to_three_calls() -> None:
    fake = FakeGoogle()
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = GoogleAdapter(provider="google", settings={"api_key": SECRET}, client=client)
    yaml_text = (
        "providers: {google: {adapter: mock}}\n"
        "models: {m: {deployments: [{provider: google, model: gemini-2.5-flash-image}]}}\n"
        "retry: {attempts: 1}\nauth: {enabled: false}\n"
    )
    runtime = runtime_with(yaml_text, {"google": adapter})  # type: ignore[dict-item]
    try:
        outcomes = await run_routed(runtime, router_for(runtime), n=3)
    finally:
        await client.aclose()
    assert fake.calls == 3 and sum(len(o.result.images) for o in outcomes if o.result) == 3


def _answering(payload: dict[str, Any]) -> FakeGoogle:
    class Answering(FakeGoogle):
        def route(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            return json_response(payload)

    return Answering()


def _input(color: int, size: tuple[int, int] = (64, 48)) -> InputImage:
    data = distinct_png(color)
    return InputImage(data=data, media_type="image/png", width=size[0], height=size[1])


async def test_gemini_edit_sends_the_images_as_inline_parts() -> None:
    fake = FakeGoogle()
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = GoogleAdapter(provider="google", settings={"api_key": SECRET}, client=client)
    images = (_input(1), _input(2))
    req = ImageRequest(model="m", prompt="put the hat on the fox", images=images, mask=_input(3), strength=0.4)
    try:
        result = await adapter.edit(req, ctx("gemini-3-pro-image-preview"))
    finally:
        await client.aclose()
    parts = json.loads(fake.requests[0].content)["contents"][0]["parts"]
    assert parts[0] == {"text": "put the hat on the fox"}
    assert [base64.b64decode(p["inlineData"]["data"]) for p in parts[1:]] == [i.data for i in images]
    assert all(p["inlineData"]["mimeType"] == "image/png" for p in parts[1:])
    assert any(w.startswith("mask:") for w in result.warnings) and any(w.startswith("strength:") for w in result.warnings)
    assert len(result.images) == 1


def test_edit_capabilities_and_limits() -> None:
    adapter = GoogleAdapter(provider="g", settings={}, client=httpx.AsyncClient())
    pro, flash, imagen = (adapter.capabilities(m) for m in
                          ("gemini-3-pro-image-preview", "gemini-2.5-flash-image", "imagen-4.0-generate-001"))
    assert (pro.edit, pro.max_input_images, pro.edit_mask) == (True, 14, False)
    assert (flash.edit, flash.max_input_images) == (True, 3)
    assert imagen.edit is False
    req = ImageRequest(model="m", prompt="p", images=tuple(_input(i) for i in range(4)))
    with pytest.raises(ProviderError) as info:
        google_translate.encode_edit(req, model="gemini-2.5-flash-image")
    assert info.value.failure is FailureClass.CALLER_FAULT
    with pytest.raises(ProviderError):
        google_translate.encode_edit(msgspec.structs.replace(req, images=req.images[:1]), model="imagen-4.0-generate-001")


@pytest.mark.parametrize(
    ("field", "value"),
    [("mask", "image"), ("strength", 0.5), ("prompt_extend", True), ("watermark", False), ("images", "two")],
)
def test_every_edit_field_changes_the_body_or_warns(field: str, value: object) -> None:
    base = ImageRequest(model="m", prompt="p", images=(_input(1),))
    if value == "image":
        value = _input(9)
    elif value == "two":
        value = (_input(1), _input(2))
    before = google_translate.encode_edit(base, model="gemini-3-pro-image-preview")
    after = google_translate.encode_edit(msgspec.structs.replace(base, **{field: value}), model="gemini-3-pro-image-preview")
    assert after[0] != before[0] or set(after[1]) - set(before[1])
