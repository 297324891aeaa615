"""ComfyUI edits against the ComfyUI fake: each input uploaded with POST /upload/image (multipart),
the names ComfyUI answered wired into the edit workflow's LoadImage / LoadImageMask, the mask
converted to white = edit (read from the red channel), a successful edit, and the operator's template."""

from __future__ import annotations

import dataclasses
import hashlib

import httpx
import pytest

from adapters import comfyui_edit
from adapters.base import AdapterSettingsError
from adapters.comfyui import ComfyUIAdapter
from gateway.canonical import ProgressUpdate, Update
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import ctx
from tests.fakes.comfyui import FakeComfy, WebSocketComfy
from tests.support.edit_inputs import H, W, decoded, edit_request, half_mask, input_png

SETTINGS = {"base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}


async def _edit(fake: FakeComfy, settings: dict[str, object] | None = None, **fields: object) -> object:
    images = fields.pop("images", ())
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = ComfyUIAdapter(provider="comfy", settings=settings or SETTINGS, client=client)
        return await adapter.edit(edit_request(*images, **fields), ctx("sd15.safetensors"))  # type: ignore[misc]


async def test_inputs_are_uploaded_and_their_names_wired_into_the_bundled_workflow() -> None:
    fake = FakeComfy()
    base = input_png()
    result = await _edit(fake, images=(base,), mask=half_mask(soft=30), strength=0.55, seed=5)
    uploads = [r for r in fake.requests if r.url.path == "/upload/image"]
    assert len(uploads) == 2 and all(r.headers["content-type"].startswith("multipart/form-data") for r in uploads)
    assert fake.upload_forms == [{"type": "input", "overwrite": "true"}] * 2
    image_name = f"imagegate-image-{hashlib.sha256(base.data).hexdigest()[:24]}.png"
    assert fake.uploaded[image_name] == base.data
    graph = fake.prompts[0]["prompt"]
    assert graph["10"] == {"class_type": "LoadImage", "inputs": {"image": image_name}}
    mask_name = graph["13"]["inputs"]["image"]
    assert mask_name.startswith("imagegate-mask-") and graph["13"]["inputs"]["channel"] == "red"
    mask = decoded(fake.uploaded[mask_name])
    assert mask.mode == "L" and mask.size == (W, H)
    # canonical alpha 0 (left, edit) -> 255 (LoadImageMask red = 1.0); opaque -> 0; alpha 30 -> 225.
    assert mask.getpixel((1, 1)) == 255 and mask.getpixel((W - 1, 1)) == 0 and mask.getpixel((0, 0)) == 225
    assert graph["3"]["inputs"]["denoise"] == 0.55 and graph["3"]["inputs"]["seed"] == 5
    assert (graph["11"]["inputs"]["width"], graph["11"]["inputs"]["height"]) == (W, H)  # base size kept
    assert graph["14"]["inputs"] == {"samples": ["12", 0], "mask": ["13", 0]}
    assert graph["6"]["inputs"]["text"] == "paint it blue" and graph["4"]["inputs"]["ckpt_name"] == "sd15.safetensors"
    assert len(result.images) == 1 and result.images[0].seed == 5  # type: ignore[attr-defined]
    assert result.warnings == []  # type: ignore[attr-defined]


async def test_without_a_mask_an_all_white_mask_makes_it_plain_img2img() -> None:
    fake = FakeComfy()
    await _edit(fake)
    graph = fake.prompts[0]["prompt"]
    mask = decoded(fake.uploaded[graph["13"]["inputs"]["image"]])
    assert mask.getextrema() == (255, 255) and mask.size == (W, H)
    assert graph["3"]["inputs"]["denoise"] == 0.75  # no strength: the workflow's own value


async def test_a_renamed_upload_is_referenced_by_the_name_comfyui_answered() -> None:
    fake = FakeComfy()
    base = input_png()
    send_without_overwrite = comfyui_edit.Upload("image", "a.png", base.data, "image/png")
    fake.uploaded["a.png"] = b"other bytes"
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://comfy.local:8188") as client:

        async def send(method: str, path: str, **kwargs: object) -> httpx.Response:
            data = {"type": "input"}  # no overwrite: ComfyUI keeps both files
            return await client.request(method, path, files=kwargs["files"], data=data)  # type: ignore[arg-type]

        name = await comfyui_edit.upload(send, "comfy", send_without_overwrite)
    assert name == "a (1).png" and fake.uploaded[name] == base.data


async def test_a_prompt_naming_a_file_comfyui_lacks_is_refused_like_comfyui() -> None:
    fake = FakeComfy()
    graph = {"10": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}}}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        response = await client.post("http://comfy.local:8188/prompt", json={"prompt": graph, "client_id": "c"})
    assert response.status_code == 400
    assert response.json()["node_errors"]["10"]["errors"][0]["details"] == "image - Invalid image file: missing.png"
    assert fake.calls == 0


async def test_an_operator_edit_workflow_with_references_and_no_mask() -> None:
    graph = {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}},
        "2": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "3": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "4": {"class_type": "KSampler", "inputs": {"seed": 0, "denoise": 1.0}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}},
    }
    placeholders = {"prompt": "1.text", "image": "2.image", "image_2": "3.image", "seed": "4.seed", "strength": "4.denoise"}
    settings = {**SETTINGS, "edit_workflow": graph, "edit_placeholders": placeholders}
    fake = FakeComfy()
    base, reference = input_png(), input_png((0, 0, 200))
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = ComfyUIAdapter(provider="comfy", settings=settings, client=client)
        caps = adapter.capabilities("m")
        result = await adapter.edit(edit_request(base, reference, mask=half_mask(), watermark=True), ctx("m"))
    assert (caps.edit, caps.max_input_images, caps.edit_mask) == (True, 2, False)
    sent = fake.prompts[0]["prompt"]
    assert [fake.uploaded[sent[node]["inputs"]["image"]] for node in ("2", "3")] == [base.data, reference.data]
    assert "mask: this edit workflow has no mask placeholder; dropped" in result.warnings
    assert "watermark: not supported by comfyui; dropped" in result.warnings
    assert "width: this workflow has no placeholder for it; dropped" in result.warnings
    with pytest.raises(ProviderError) as caught:  # three inputs for two LoadImage slots
        comfyui_edit.plan_uploads(edit_request(base, base, base), (graph, placeholders))
    assert caught.value.failure is FailureClass.CALLER_FAULT


async def test_a_bad_edit_template_is_refused_at_build_naming_the_setting() -> None:
    bad = {**SETTINGS, "edit_workflow": {"1": {"class_type": "X", "inputs": {}}}, "edit_placeholders": {"prompt": "1.text", "image": "7.image"}}
    async with httpx.AsyncClient() as client:
        with pytest.raises(AdapterSettingsError) as caught:
            ComfyUIAdapter(provider="comfy", settings=bad, client=client)
        assert caught.value.path == "edit_placeholders.image"
    no_image = {**SETTINGS, "edit_workflow": {"1": {"class_type": "X", "inputs": {"text": ""}}}, "edit_placeholders": {"prompt": "1.text"}}
    async with httpx.AsyncClient() as client:
        with pytest.raises(AdapterSettingsError) as caught:
            ComfyUIAdapter(provider="comfy", settings=no_image, client=client)
        assert caught.value.path == "edit_placeholders"


async def test_bundled_capabilities_one_input_and_a_mask() -> None:
    async with httpx.AsyncClient(transport=FakeComfy().transport()) as client:
        caps = ComfyUIAdapter(provider="comfy", settings=SETTINGS, client=client).capabilities("m")
    assert (caps.edit, caps.max_input_images, caps.edit_mask) == (True, 1, True)


async def test_a_streamed_edit_uploads_then_follows_the_websocket() -> None:
    fake = WebSocketComfy()
    updates: list[Update] = []
    call = dataclasses.replace(ctx("sd15.safetensors"), report=updates.append)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as client:
        adapter = ComfyUIAdapter(provider="comfy", settings=SETTINGS, client=client)
        adapter.connect_ws = fake.connect
        result = await adapter.edit(edit_request(mask=half_mask(), seed=9), call)
    graph = fake.prompts[0]["prompt"]
    assert {graph["10"]["inputs"]["image"], graph["13"]["inputs"]["image"]} == set(fake.uploaded)
    assert any(isinstance(u, ProgressUpdate) for u in updates) and result.images[0].seed == 9


async def test_upload_failures_and_requests_comfyui_cannot_take_stop_before_the_prompt() -> None:
    answers = iter([httpx.Response(500, json={"error": "boom"}), httpx.Response(200, json={"nope": 1})])
    prompts: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/prompt":
            prompts.append(request)
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        adapter = ComfyUIAdapter(provider="comfy", settings=SETTINGS, client=client)
        with pytest.raises(ProviderError) as caught:
            await adapter.edit(edit_request(), ctx("m"))
        assert caught.value.failure is FailureClass.TRANSIENT and caught.value.status == 500
        with pytest.raises(ProviderError) as caught:
            await adapter.edit(edit_request(), ctx("m"))
        assert caught.value.failure is FailureClass.UPSTREAM_INVALID
        with pytest.raises(ProviderError) as caught:  # n > 1: refused before any upload
            await adapter.edit(edit_request(n=2), ctx("m"))
        assert caught.value.failure is FailureClass.CALLER_FAULT
    assert prompts == []
