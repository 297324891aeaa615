"""Table tests of each adapter's pure request encoding: sizes snapped, quality mapped, fields dropped
with warnings, seeds passed or reported null."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from adapters import a1111, comfyui, comfyui_workflow, flux, openai_images
from gateway.canonical import ImageRequest, OutputFormat, Quality, Resolution
from gateway.errors import FailureClass, ProviderError
from tests.support.images import distinct_png


def req(**fields: Any) -> ImageRequest:
    return ImageRequest(model="m", prompt=fields.pop("prompt", "a fox"), **fields)


def oa(model: str, **fields: Any) -> tuple[dict[str, Any], list[str]]:
    return openai_images.encode_request(
        req(**fields), model=model, family=openai_images.family_of(model), options=fields.get("_o")
    )


# --- OpenAI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "size", "warned"),
    [
        ("dall-e-2", {"width": 512, "height": 512}, "512x512", False),
        ("dall-e-2", {"width": 600, "height": 600}, "512x512", True),
        ("dall-e-2", {"width": 1920, "height": 1080}, "1024x1024", True),
        ("dall-e-3", {"width": 1920, "height": 1080}, "1792x1024", True),
        ("dall-e-3", {"aspect_ratio": (9, 16)}, "1024x1792", False),  # ratio within 2%
        ("dall-e-3", {"aspect_ratio": (1, 3)}, "1024x1792", True),
        ("dall-e-3", {"resolution": Resolution.R1K}, "1024x1024", False),
        ("gpt-image-1", {"aspect_ratio": (3, 2)}, "1536x1024", False),
        ("gpt-image-1", {"width": 1024, "height": 1536}, "1024x1536", False),
        ("gpt-image-2", {"width": 1000, "height": 1000}, "1008x1008", True),
        ("gpt-image-2", {"width": 4096, "height": 1024}, "3072x1024", True),
        ("gpt-image-2", {"aspect_ratio": (16, 9), "resolution": Resolution.R4K}, "3840x2160", True),
        ("dall-e-3", {"resolution": Resolution.R4K}, "1024x1024", True),
        ("gpt-image-2", {"aspect_ratio": (4, 1)}, "1392x480", True),  # >= 655,360 px
        ("some-local-model", {"width": 500, "height": 300}, "504x304", True),
    ],
)
def test_openai_sizes(model: str, fields: dict[str, Any], size: str, warned: bool) -> None:
    body, warnings = oa(model, **fields)
    assert body["size"] == size
    assert any(w.startswith(("size:", "aspect")) for w in warnings) is warned


def test_openai_no_size_requested_sends_none() -> None:
    body, warnings = oa("dall-e-3")
    assert "size" not in body and warnings == []


@pytest.mark.parametrize(
    ("model", "quality", "sent", "warned"),
    [
        ("dall-e-3", Quality.HIGH, "hd", False),
        ("dall-e-3", Quality.MEDIUM, "standard", False),
        ("dall-e-3", Quality.LOW, "standard", False),
        ("dall-e-3", Quality.AUTO, None, False),
        ("dall-e-2", Quality.HIGH, None, True),
        ("dall-e-2", Quality.AUTO, None, False),
        ("gpt-image-1", Quality.LOW, "low", False),
        ("gpt-image-1.5", Quality.AUTO, "auto", False),
    ],
)
def test_openai_quality(model: str, quality: Quality, sent: str | None, warned: bool) -> None:
    body, warnings = oa(model, quality=quality)
    assert body.get("quality") == sent
    assert any(w.startswith("quality:") for w in warnings) is warned


def test_openai_always_sends_model_and_b64_for_dalle() -> None:
    body, _ = oa("dall-e-3")
    assert body["model"] == "dall-e-3" and body["response_format"] == "b64_json" and body["n"] == 1


def test_gpt_image_sends_output_format_not_response_format() -> None:
    body, _ = openai_images.encode_request(
        req(output_format=OutputFormat.WEBP, safe_mode=False, user="u-1"),
        model="gpt-image-1",
        family="gpt-image",
        options={"output_compression": 80, "background": "opaque"},
    )
    assert "response_format" not in body
    assert body["output_format"] == "webp" and body["output_compression"] == 80
    assert body["background"] == "opaque" and body["moderation"] == "low" and body["user"] == "u-1"


@pytest.mark.parametrize(("style", "sent"), [("vivid", "vivid"), ("natural", "natural"), ("noir", None)])
def test_dalle3_style(style: str, sent: str | None) -> None:
    body, warnings = oa("dall-e-3", style=style)
    assert body.get("style") == sent
    assert any(w.startswith("style:") for w in warnings) is (sent is None)


def test_openai_drops_unsupported_fields_with_warnings_and_reports_no_seed() -> None:
    body, warnings = oa(
        "dall-e-3",
        negative_prompt="blur",
        seed=5,
        guide_scale=7.0,
        steps=30,
        style_preset="Anime",
        lora_strength=50,
        enable_web_search=True,
        metadata={"a": 1},
        hide_watermark=True,
    )
    for name in (
        "negative_prompt",
        "seed",
        "guide_scale",
        "steps",
        "style_preset",
        "lora_strength",
        "enable_web_search",
    ):
        assert any(w.startswith(f"{name}:") for w in warnings), name
        assert name not in body
    assert "metadata" not in body and "hide_watermark" not in body and "seed" not in body
    assert not any("metadata" in w or "hide_watermark" in w for w in warnings)


@pytest.mark.parametrize(("model", "n"), [("dall-e-3", 2), ("dall-e-2", 11)])
def test_openai_rejects_n_over_the_model_max_before_io(model: str, n: int) -> None:
    with pytest.raises(ProviderError) as info:
        oa(model, n=n)
    assert info.value.failure is FailureClass.CALLER_FAULT


def test_openai_rejects_prompt_over_the_model_max() -> None:
    with pytest.raises(ProviderError):
        oa("dall-e-2", prompt="x" * 1001)
    body, _ = oa("dall-e-3", prompt="x" * 1001)
    assert len(body["prompt"]) == 1001


# --- Flux ---------------------------------------------------------------------------------------


def fx(
    model: str, settings: flux.FluxSettings | None = None, **fields: Any
) -> tuple[dict[str, Any], list[str]]:
    options = fields.pop("_o", None)
    return flux.encode_request(
        req(**fields), model=model, settings=settings or flux.FluxSettings(), options=options
    )


@pytest.mark.parametrize(
    ("model", "fields", "expected", "warned"),
    [
        ("flux-pro-1.1", {"width": 1024, "height": 768}, {"width": 1024, "height": 768}, False),
        ("flux-pro-1.1", {"width": 1000, "height": 1000}, {"width": 992, "height": 992}, True),
        ("flux-pro-1.1", {"width": 2048, "height": 1024}, {"width": 1440, "height": 736}, True),
        ("flux-dev", {"width": 100, "height": 100}, {"width": 256, "height": 256}, True),
        ("flux-2-pro", {"width": 1000, "height": 600}, {"width": 1008, "height": 608}, True),
        ("flux-pro-1.1-ultra", {"aspect_ratio": (16, 9)}, {"aspect_ratio": "16:9"}, False),
        ("flux-pro-1.1-ultra", {"aspect_ratio": (2, 1)}, {"aspect_ratio": "16:9"}, True),
        ("flux-kontext-pro", {"aspect_ratio": (1, 1)}, {"aspect_ratio": "1:1"}, False),
    ],
)
def test_flux_sizes(model: str, fields: dict[str, Any], expected: dict[str, Any], warned: bool) -> None:
    body, warnings = fx(model, **fields)
    assert {k: body.get(k) for k in expected} == expected
    assert any(w.startswith(("size:", "aspect_ratio:")) for w in warnings) is warned
    if "aspect_ratio" in expected:
        assert "width" not in body and "height" not in body


def test_flux_seed_passed_or_omitted() -> None:
    assert fx("flux-pro-1.1", seed=42)[0]["seed"] == 42
    assert "seed" not in fx("flux-pro-1.1")[0]


@pytest.mark.parametrize(
    ("fmt", "sent"), [(OutputFormat.PNG, "png"), (OutputFormat.JPEG, "jpeg"), (OutputFormat.WEBP, "png")]
)
def test_flux_output_format(fmt: OutputFormat, sent: str) -> None:
    assert fx("flux-pro-1.1", output_format=fmt)[0]["output_format"] == sent


@pytest.mark.parametrize(
    ("model", "fields", "steps", "guidance", "warned"),
    [
        ("flux-dev", {"quality": Quality.HIGH}, 49, None, []),
        ("flux-dev", {"quality": Quality.LOW}, 14, None, []),
        ("flux-dev", {"quality": Quality.HIGH, "steps": 20}, 20, None, ["quality:"]),  # steps wins, warned
        ("flux-dev", {"steps": 80, "guide_scale": 9.0}, 50, 5.0, ["steps:", "guide_scale:"]),
        ("flux-2-flex", {"guide_scale": 7.0}, None, 7.0, []),
        (
            "flux-pro-1.1",
            {"steps": 30, "guide_scale": 3.0, "quality": Quality.HIGH},
            None,
            None,
            ["steps:", "guide_scale:", "quality:"],
        ),
    ],
)
def test_flux_steps_guidance_quality(
    model: str, fields: dict[str, Any], steps: int | None, guidance: float | None, warned: list[str]
) -> None:
    body, warnings = fx(model, **fields)
    assert body.get("steps") == steps and body.get("guidance") == guidance
    assert sorted(w.split(" ")[0] for w in warnings) == sorted(warned)


def test_flux_drops_negative_prompt_style_user_with_warnings() -> None:
    body, warnings = fx(
        "flux-pro-1.1", negative_prompt="x", style="y", user="u", style_preset="Anime", lora_strength=3
    )
    assert {w.split(":")[0] for w in warnings} == {
        "negative_prompt",
        "style",
        "user",
        "style_preset",
        "lora_strength",
    }
    assert set(body) == {"prompt", "output_format"}


def test_flux_safety_tolerance_and_options() -> None:
    settings = flux.FluxSettings(safety_tolerance=2, relaxed_safety_tolerance=5)
    assert fx("flux-pro-1.1", settings)[0]["safety_tolerance"] == 2
    assert fx("flux-pro-1.1", settings, safe_mode=False)[0]["safety_tolerance"] == 5
    body, warnings = fx("flux-pro-1.1", safe_mode=False)
    assert "safety_tolerance" not in body and warnings[0].startswith("safe_mode:")
    ultra, _ = fx("flux-pro-1.1-ultra", _o={"raw": True, "prompt_upsampling": True})
    assert ultra["raw"] is True and ultra["prompt_upsampling"] is True


# --- A1111 --------------------------------------------------------------------------------------


def sd(settings: dict[str, Any] | None = None, **fields: Any) -> tuple[dict[str, Any], list[str]]:
    decoded = a1111.A1111Settings(**(settings or {}))
    return a1111.encode_request(req(**fields), model="sdxl-base", settings=decoded)


def test_a1111_maps_every_native_field() -> None:
    body, warnings = sd(
        {"sampler_name": "DPM++ 2M", "scheduler": "Karras", "styles": ["Anime"]},
        n=4,
        negative_prompt="blurry",
        seed=11,
        steps=30,
        guide_scale=6.5,
        width=768,
        height=512,
        style_preset="Anime",
    )
    assert body["n_iter"] == 4 and body["batch_size"] == 1
    assert body["negative_prompt"] == "blurry" and body["seed"] == 11 and body["steps"] == 30
    assert body["cfg_scale"] == 6.5 and (body["width"], body["height"]) == (768, 512)
    assert (
        body["styles"] == ["Anime"] and body["sampler_name"] == "DPM++ 2M" and body["scheduler"] == "Karras"
    )
    assert body["override_settings"] == {"sd_model_checkpoint": "sdxl-base"}
    assert body["send_images"] is True and body["save_images"] is False
    assert warnings == []


def test_a1111_unset_seed_is_minus_one_and_sizes_snap_to_8() -> None:
    body, warnings = sd(width=1001, height=601)
    assert body["seed"] == -1 and (body["width"], body["height"]) == (1000, 600)
    assert warnings and warnings[0].startswith("size:")


@pytest.mark.parametrize(
    ("quality", "steps"), [(Quality.LOW, 10), (Quality.MEDIUM, 20), (Quality.HIGH, 35), (Quality.AUTO, None)]
)
def test_a1111_quality_steps_preset(quality: Quality, steps: int | None) -> None:
    assert sd(quality=quality)[0].get("steps") == steps


def test_a1111_guidance_clamped_and_unknown_style_dropped() -> None:
    body, warnings = sd(
        guide_scale=45.0, style_preset="Nope", style="noir", lora_strength=40, safe_mode=True, user="u"
    )
    assert body["cfg_scale"] == 30.0
    assert {w.split(":")[0] for w in warnings} == {
        "guide_scale",
        "style_preset",
        "style",
        "lora_strength",
        "safe_mode",
        "user",
    }


def test_a1111_lora_strength_becomes_prompt_tag_when_configured() -> None:
    body, warnings = sd({"lora_name": "pixel"}, lora_strength=75)
    assert body["prompt"].endswith("<lora:pixel:0.75>") and warnings == []


def test_a1111_decode_uses_all_seeds_and_skips_grid() -> None:
    blobs = [base64.b64encode(distinct_png(i)).decode() for i in range(3)]
    info = {"all_seeds": [5, 6], "index_of_first_image": 1}
    images, raw = a1111.decode_response("sd", {"images": blobs, "info": json.dumps(info)})
    assert [i.seed for i in images] == [5, 6]
    assert images[0].image_bytes() == distinct_png(1)
    assert raw["info"] == info and all(b.startswith("<base64 elided") for b in raw["images"])  # type: ignore[union-attr]


# --- ComfyUI ------------------------------------------------------------------------------------


def test_comfy_template_placeholders_are_filled() -> None:
    settings = comfyui.ComfyUISettings()
    graph, placeholders = comfyui_workflow.load_workflow(settings)
    warnings: list[str] = []
    fields = comfyui_workflow.workflow_values(
        req(steps=12, guide_scale=5.0, width=640, height=480), settings, warnings
    )
    filled, dropped = comfyui_workflow.encode_prompt(
        graph,
        placeholders,
        {**fields, "seed": 9, "negative_prompt": "blur", "checkpoint": "sdxl.safetensors", "batch_size": 1},
    )
    assert filled["6"]["inputs"]["text"] == "a fox" and filled["7"]["inputs"]["text"] == "blur"
    assert (
        filled["3"]["inputs"]["seed"] == 9
        and filled["3"]["inputs"]["steps"] == 12
        and filled["3"]["inputs"]["cfg"] == 5.0
    )
    assert (filled["5"]["inputs"]["width"], filled["5"]["inputs"]["height"]) == (640, 480)
    assert filled["4"]["inputs"]["ckpt_name"] == "sdxl.safetensors"
    assert graph["6"]["inputs"]["text"] == ""  # the template itself is untouched
    assert dropped == [] and warnings == []


def test_comfy_value_without_placeholder_is_reported() -> None:
    graph = {"1": {"class_type": "X", "inputs": {"text": ""}}}
    _, dropped = comfyui_workflow.encode_prompt(graph, {"prompt": "1.text"}, {"prompt": "p", "seed": 3})
    assert dropped == ["seed: this workflow has no placeholder for it; dropped"]


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"workflow": {"1": {"class_type": "X", "inputs": {}}}}, "placeholders"),
        (
            {"workflow": {"1": {"class_type": "X", "inputs": {}}}, "placeholders": {"prompt": "2.text"}},
            "placeholders.prompt",
        ),
        ({"placeholders": {"bogus": "6.text"}}, "placeholders.bogus"),
        (
            {"workflow_path": "/nonexistent/workflow.json", "placeholders": {"prompt": "6.text"}},
            "workflow_path",
        ),
    ],
)
def test_comfy_bad_templates_fail_at_startup_naming_the_key(settings: dict[str, Any], path: str) -> None:
    from adapters.base import AdapterSettingsError

    decoded = comfyui.ComfyUISettings(**settings)
    with pytest.raises(AdapterSettingsError) as info:
        comfyui_workflow.load_workflow(decoded)
    assert info.value.path == path


def test_comfy_lora_strength_goes_to_its_placeholder_or_is_reported() -> None:
    graph = {
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}},
        "10": {"class_type": "LoraLoader", "inputs": {"strength_model": 1.0}},
    }
    settings = comfyui.ComfyUISettings(
        workflow=graph,
        placeholders={"prompt": "6.text", "lora_strength": "10.strength_model"},
    )
    template, placeholders = comfyui_workflow.load_workflow(settings)
    warnings: list[str] = []
    fields = comfyui_workflow.workflow_values(req(lora_strength=40), settings, warnings)
    filled, dropped = comfyui_workflow.encode_prompt(template, placeholders, fields)
    assert filled["10"]["inputs"]["strength_model"] == 0.4 and filled["6"]["inputs"]["text"] == "a fox"
    assert warnings == [] and dropped == []
    bundled = comfyui.ComfyUISettings()
    graph2, placeholders2 = comfyui_workflow.load_workflow(bundled)
    _, dropped = comfyui_workflow.encode_prompt(
        graph2, placeholders2, comfyui_workflow.workflow_values(req(lora_strength=40), bundled, [])
    )
    assert dropped == ["lora_strength: this workflow has no placeholder for it; dropped"]
