"""A1111 edits against the A1111 fake: the exact img2img body (init_images, the mask converted to
white = edit in one channel, denoising_strength, the base image's size), a successful edit, A1111's
422 as a caller fault, and what is dropped with a warning."""

from __future__ import annotations

import base64
import dataclasses
import json

import httpx
import pytest

from adapters.a1111 import A1111Adapter, A1111Settings, encode_edit
from adapters.edit_inputs import NO_ALPHA
from gateway.canonical import InputImage, PreviewImage, ProgressUpdate, Update
from gateway.errors import FailureClass, ProviderError
from tests.fakes.a1111 import FakeA1111, ProgressA1111
from tests.fakes.base import SECRET, Failure, ctx, fixture
from tests.support.edit_inputs import H, W, decoded, edit_request, half_mask, input_png
from tests.support.images import png

SETTINGS = {"base_url": "http://sd.local:7860", "username": "u", "password": SECRET}


async def _edit(fake: FakeA1111, **fields: object) -> object:
    images = fields.pop("images", ())
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = A1111Adapter(provider="sd", settings=SETTINGS, client=client)
        return await adapter.edit(edit_request(*images, **fields), ctx("sdxl-base"))  # type: ignore[misc]


async def test_inpaint_sends_init_image_and_the_mask_as_white_is_edit() -> None:
    fake = FakeA1111()
    base = input_png()
    result = await _edit(fake, images=(base,), mask=half_mask(soft=64), strength=0.6, seed=11, n=2)
    path, body = fake.bodies[0]
    assert path == "/sdapi/v1/img2img"
    assert [base64.b64decode(b) for b in body["init_images"]] == [base.data]
    mask = decoded(base64.b64decode(body["mask"]))
    assert mask.mode == "L" and mask.size == (W, H)  # one channel, same size as the base image
    # canonical alpha 0 (left half: edit) -> 255; opaque (right half: keep) -> 0; alpha 64 -> 191.
    assert mask.getpixel((1, 1)) == 255 and mask.getpixel((W - 1, 1)) == 0 and mask.getpixel((0, 0)) == 191
    assert body["denoising_strength"] == 0.6
    assert (body["inpainting_fill"], body["inpaint_full_res"], body["inpainting_mask_invert"]) == (1, False, 0)
    assert (body["width"], body["height"]) == (W, H)  # the base image's size (a multiple of 8)
    assert (body["seed"], body["n_iter"], body["prompt"]) == (11, 2, "paint it blue")
    assert fake.requests[0].headers["authorization"].startswith("Basic ")
    assert [image.seed for image in result.images] == [11, 12]  # type: ignore[attr-defined]
    assert result.warnings == []  # type: ignore[attr-defined]


async def test_img2img_without_mask_or_strength_leaves_a1111_defaults() -> None:
    fake = FakeA1111()
    await _edit(fake, images=(input_png(size=(100, 75)),), width=512, height=384)
    _, body = fake.bodies[0]
    assert "mask" not in body and "denoising_strength" not in body and "inpainting_fill" not in body
    assert (body["width"], body["height"]) == (512, 384)  # an asked size wins over the base image's


def test_the_base_size_is_snapped_to_a1111s_multiple() -> None:
    body, warnings = encode_edit(edit_request(input_png(size=(100, 75))), model="m", settings=A1111Settings())
    assert (body["width"], body["height"]) == (104, 72)
    assert warnings == []  # the client asked for no size: the snap is ours, not a change to warn about


def test_a_mask_without_alpha_marks_nothing_and_says_so() -> None:
    flat = InputImage(data=png((255, 255, 255), (W, H)), media_type="image/png", width=W, height=H)
    body, warnings = encode_edit(edit_request(mask=flat), model="m", settings=A1111Settings())
    assert decoded(base64.b64decode(body["mask"])).getextrema() == (0, 0)
    assert warnings == [NO_ALPHA]


def test_fields_a1111_has_no_slot_for_are_warned_and_one_input_only() -> None:
    _, warnings = encode_edit(edit_request(prompt_extend=True, watermark=True), model="m", settings=A1111Settings())
    assert warnings == [
        "prompt_extend: not supported by a1111; dropped",
        "watermark: not supported by a1111; dropped",
    ]
    with pytest.raises(ProviderError) as caught:
        encode_edit(edit_request(input_png(), input_png()), model="m", settings=A1111Settings())
    assert caught.value.failure is FailureClass.CALLER_FAULT


async def test_a1111_422_on_an_edit_is_a_caller_fault() -> None:
    fake = FakeA1111(Failure(status=422, body=json.dumps(fixture("a1111/error_422_validation.json")).encode()))
    with pytest.raises(ProviderError) as caught:
        await _edit(fake, mask=half_mask())
    assert caught.value.failure is FailureClass.CALLER_FAULT and caught.value.status == 422


async def test_the_fake_refuses_a_mistyped_img2img_payload_with_fastapis_detail() -> None:
    fake = FakeA1111()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        response = await client.post(
            "http://sd.local:7860/sdapi/v1/img2img", json={"init_images": "not-a-list", "denoising_strength": "x"}
        )
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["body", "init_images"], ["body", "denoising_strength"]]
    assert fake.calls == 0


async def test_a_streamed_edit_reports_img2img_progress_and_previews() -> None:
    """img2img runs through txt2img's serialised job and progress follower."""
    fake = ProgressA1111(steps=(4, 8))
    updates: list[Update] = []
    call = dataclasses.replace(ctx("sdxl-base"), report=updates.append)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as client:
        adapter = A1111Adapter(provider="sd", settings={**SETTINGS, "poll_interval_seconds": 0.0}, client=client)
        result = await adapter.edit(edit_request(mask=half_mask(), seed=3), call)
    assert fake.paths == ["/sdapi/v1/img2img"] and result.images[0].seed == 3
    assert [u.step for u in updates if isinstance(u, ProgressUpdate)] == [4, 8]
    assert any(isinstance(u, PreviewImage) for u in updates)


async def test_capabilities_say_one_input_and_a_mask() -> None:
    async with httpx.AsyncClient(transport=FakeA1111().transport()) as client:
        caps = A1111Adapter(provider="sd", settings=SETTINGS, client=client).capabilities("m")
    assert (caps.edit, caps.max_input_images, caps.edit_mask) == (True, 1, True)
