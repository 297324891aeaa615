"""BFL edits against the BFL fake: the exact submit body (base64 inputs, Fill's converted mask),
a successful edit, moderation of an input, and the per-model edit capabilities."""

from __future__ import annotations

import base64
import dataclasses

import httpx
import pytest

from adapters.flux import FluxAdapter, encode_edit
from gateway.canonical import ImageRequest, InputImage, ProgressUpdate, Update
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, ctx
from tests.fakes.bfl import FakeBFL, PollingBFL
from tests.support.edit_inputs import H, W, decoded, edit_request, half_mask, input_png

SETTINGS = {"api_key": SECRET, "poll_interval_seconds": 0.0}


async def _edit(fake: FakeBFL, model: str, **fields: object) -> object:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=SETTINGS, client=client)
        images = fields.pop("images", ())
        return await adapter.edit(edit_request(*images, **fields), ctx(model))  # type: ignore[misc]


async def test_kontext_edit_sends_the_inputs_as_base64_and_returns_the_image() -> None:
    fake = FakeBFL()
    base, reference = input_png((200, 30, 30)), input_png((10, 10, 200))
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=SETTINGS, client=client)
        req = edit_request(base, reference, prompt_extend=True, seed=7)
        result = await adapter.edit(req, ctx("flux-kontext-pro"))
    model, body = fake.bodies[0]
    assert model == "flux-kontext-pro"
    assert base64.b64decode(body["input_image"]) == base.data
    assert base64.b64decode(body["input_image_2"]) == reference.data
    assert body["prompt_upsampling"] is True and body["seed"] == 7 and body["prompt"] == "paint it blue"
    assert "mask" not in body and "image" not in body and "width" not in body  # size follows the input
    assert fake.requests[0].headers["x-key"] == SECRET
    assert len(result.images) == 1 and result.images[0].image_bytes().startswith(b"\x89PNG")
    assert result.images[0].seed == 7 and result.warnings == []


async def test_flux2_takes_up_to_eight_references_named_input_image_n() -> None:
    fake = FakeBFL()
    images = tuple(input_png((i * 20, 0, 0)) for i in range(8))
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=SETTINGS, client=client)
        await adapter.edit(edit_request(*images, width=512, height=512), ctx("flux-2-pro"))
    _, body = fake.bodies[0]
    names = ["input_image", *(f"input_image_{i}" for i in range(2, 9))]
    assert [base64.b64decode(body[name]) for name in names] == [image.data for image in images]
    assert (body["width"], body["height"]) == (512, 512)


async def test_fill_sends_image_and_the_mask_converted_to_white_is_inpaint() -> None:
    fake = FakeBFL()
    base = input_png()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=SETTINGS, client=client)
        req = edit_request(base, mask=half_mask(soft=100), steps=30, guide_scale=40.0)
        result = await adapter.edit(req, ctx("flux-pro-1.0-fill"))
    model, body = fake.bodies[0]
    assert model == "flux-pro-1.0-fill"
    assert base64.b64decode(body["image"]) == base.data and "input_image" not in body
    mask = decoded(base64.b64decode(body["mask"]))
    assert mask.mode == "L" and mask.size == (W, H)
    # canonical alpha 0 (left half, edit) -> white; opaque (right half, keep) -> black; alpha 100 -> 155.
    assert mask.getpixel((1, 1)) == 255 and mask.getpixel((W - 1, H - 1)) == 0
    assert mask.getpixel((0, 0)) == 155
    assert (body["steps"], body["guidance"]) == (30, 40.0)
    assert result.warnings == []


@pytest.mark.parametrize(
    ("terminal", "status"),
    [
        ("get_result_request_moderated.json", "Request Moderated"),
        ("get_result_content_moderated.json", "Content Moderated"),
    ],
)
async def test_moderated_edit_is_a_content_policy_failure(terminal: str, status: str) -> None:
    with pytest.raises(ProviderError) as caught:
        await _edit(FakeBFL(terminal=terminal), "flux-kontext-max")
    assert caught.value.failure is FailureClass.CONTENT_POLICY
    assert caught.value.provider_code == status


async def test_an_input_bfl_refuses_is_request_moderated() -> None:
    fake = FakeBFL(moderate_inputs=True)
    with pytest.raises(ProviderError) as caught:
        await _edit(fake, "flux-kontext-pro")
    assert caught.value.failure is FailureClass.CONTENT_POLICY
    assert caught.value.provider_code == "Request Moderated"


async def test_an_input_bfl_cannot_read_is_its_422_a_caller_fault() -> None:
    """BFL validates the inputs at submit (FastAPI 422 naming the field): the client's fault, no task."""
    fake = FakeBFL()
    garbage = InputImage(data=b"not an image", media_type="image/png", width=W, height=H)
    with pytest.raises(ProviderError) as caught:
        await _edit(fake, "flux-pro-1.0-fill", images=(garbage,))
    assert caught.value.failure is FailureClass.CALLER_FAULT and caught.value.status == 422
    assert "invalid image" in caught.value.message and fake.calls == 0
    async with httpx.AsyncClient(transport=fake.transport()) as client:  # Fill needs `image`
        response = await client.post("https://api.bfl.ai/v1/flux-pro-1.0-fill", json={"prompt": "x"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "image"]


async def test_a_generate_routed_to_fill_falls_back_without_a_task() -> None:
    fake = FakeBFL()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=SETTINGS, client=client)
        with pytest.raises(ProviderError) as caught:
            await adapter.generate(ImageRequest(model="m", prompt="x"), ctx("flux-pro-1.0-fill"))
    assert caught.value.failure is FailureClass.MODEL_UNAVAILABLE and fake.requests == []


def test_dropped_and_converted_fields_are_warned() -> None:
    body, warnings = encode_edit(
        edit_request(mask=half_mask(), strength=0.4, watermark=True, negative_prompt="x"),
        model="flux-kontext-pro",
    )
    assert "mask" not in body
    assert warnings == [
        "negative_prompt: not supported by BFL; dropped",
        "mask: not supported by bfl flux-kontext-pro (flux-pro-1.0-fill takes one); dropped",
        "strength: not supported by BFL; dropped",
        "watermark: not supported by BFL; dropped",
    ]


def test_too_many_inputs_or_a_model_that_cannot_edit_is_refused_before_any_call() -> None:
    five = edit_request(*(input_png() for _ in range(5)))
    with pytest.raises(ProviderError) as caught:
        encode_edit(five, model="flux-kontext-pro")
    assert caught.value.failure is FailureClass.CALLER_FAULT and "at most 4" in caught.value.message
    with pytest.raises(ProviderError) as caught:
        encode_edit(edit_request(), model="flux-pro-1.1")
    assert caught.value.failure is FailureClass.CALLER_FAULT


@pytest.mark.parametrize(
    ("model", "edit", "inputs", "mask"),
    [
        ("flux-pro-1.1", False, 0, False),
        ("flux-pro-1.1-ultra", False, 0, False),
        ("flux-kontext-pro", True, 4, False),
        ("flux-kontext-max", True, 4, False),
        ("flux-2-pro", True, 8, False),
        ("flux-2-klein-4b", True, 4, False),
        ("flux-pro-1.0-fill", True, 1, True),
    ],
)
async def test_edit_capabilities_per_model(model: str, edit: bool, inputs: int, mask: bool) -> None:
    async with httpx.AsyncClient(transport=FakeBFL().transport()) as client:
        caps = FluxAdapter(provider="bfl", settings=SETTINGS, client=client).capabilities(model)
    assert (caps.edit, caps.max_input_images, caps.edit_mask) == (edit, inputs, mask)


async def test_a_streamed_edit_reports_the_tasks_progress() -> None:
    fake = PollingBFL(progress=(0.25, 0.5))
    updates: list[Update] = []
    call = dataclasses.replace(ctx("flux-kontext-pro"), report=updates.append)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as client:
        adapter = FluxAdapter(provider="bfl", settings=SETTINGS, client=client)
        result = await adapter.edit(edit_request(seed=4), call)
    assert [u.step for u in updates if isinstance(u, ProgressUpdate)] == [25, 50]
    assert fake.tasks == 1 and len(result.images) == 1
