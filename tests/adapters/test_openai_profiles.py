"""OpenAI-compatible profiles (adapters/openai_profiles.json): the exact request each dialect gets
from the `openai` adapter, served by the OpenAI fake speaking that dialect (path, URL vs base64)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.openai_images import OpenAIAdapter
from adapters.openai_profiles import PROFILES
from gateway.canonical import ImageRequest, ProviderResult, Resolution
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, Failure, ctx
from tests.fakes.openai import FakeOpenAI

PROMPT = "a red fox in snow"

# profile, settings, provider model, request fields, URL called, exact body
CASES: list[tuple[str, dict[str, object], str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "xai",
        {},
        "grok-imagine-image-quality",
        {"n": 2, "aspect_ratio": (16, 9), "resolution": Resolution.R2K},
        "https://api.x.ai/v1/images/generations",
        {"model": "grok-imagine-image-quality", "prompt": PROMPT, "n": 2, "aspect_ratio": "16:9",
         "resolution": "2k", "response_format": "b64_json"},
    ),
    (
        "recraft",
        {},
        "recraftv3",
        {"n": 2, "width": 1536, "height": 1024, "negative_prompt": "blurry", "style_preset": "digital_illustration"},
        "https://external.api.recraft.ai/v1/images/generations",
        {"model": "recraftv3", "prompt": PROMPT, "n": 2, "size": "1536x1024", "response_format": "b64_json",
         "negative_prompt": "blurry", "style": "digital_illustration"},
    ),
    (
        "seedream",
        {},
        "seedream-4-0-250828",
        {"resolution": Resolution.R2K, "seed": 42, "hide_watermark": True},
        "https://ark.ap-southeast.bytepluses.com/api/v3/images/generations",
        {"model": "seedream-4-0-250828", "prompt": PROMPT, "size": "2K", "response_format": "b64_json",
         "sequential_image_generation": "disabled", "watermark": False, "seed": 42},
    ),
    (
        "openrouter",
        {},
        "google/gemini-2.5-flash-image",
        {"aspect_ratio": (21, 9), "resolution": Resolution.R4K, "seed": 3},
        "https://openrouter.ai/api/v1/images",
        {"model": "google/gemini-2.5-flash-image", "prompt": PROMPT, "n": 1, "aspect_ratio": "21:9",
         "resolution": "4K", "seed": 3},
    ),
    (
        "vllm-omni",
        {"base_url": "http://omni.local:8091/v1"},
        "Qwen/Qwen-Image",
        {"width": 1024, "height": 768, "negative_prompt": "blurry", "steps": 30, "guide_scale": 4.5, "seed": 9},
        "http://omni.local:8091/v1/images/generations",
        {"model": "Qwen/Qwen-Image", "prompt": PROMPT, "n": 1, "size": "1024x768", "response_format": "b64_json",
         "negative_prompt": "blurry", "seed": 9, "num_inference_steps": 30, "guidance_scale": 4.5},
    ),
    (
        "ollama",
        {"base_url": "http://ollama.local:11434/v1"},
        "x/z-image-turbo",
        {"width": 1024, "height": 1024},
        "http://ollama.local:11434/v1/images/generations",
        {"model": "x/z-image-turbo", "prompt": PROMPT, "size": "1024x1024"},
    ),
    (
        "localai",
        {"base_url": "http://localai.local:8080/v1"},
        "stablediffusion",
        {"width": 512, "height": 512, "negative_prompt": "ugly", "steps": 25, "seed": 1, "user": "u1"},
        "http://localai.local:8080/v1/images/generations",
        {"model": "stablediffusion", "prompt": PROMPT + "|ugly", "n": 1, "size": "512x512",
         "response_format": "b64_json", "seed": 1, "step": 25, "user": "u1"},
    ),
    (
        "sdcpp",
        {"base_url": "http://127.0.0.1:1234/v1"},
        "flux-2-klein-4b",
        {"width": 768, "height": 512, "seed": 7, "steps": 20, "guide_scale": 3.5, "negative_prompt": "blur"},
        "http://127.0.0.1:1234/v1/images/generations",
        {"model": "flux-2-klein-4b", "n": 1, "size": "768x512", "response_format": "b64_json",
         "prompt": PROMPT + ' <sd_cpp_extra_args>{"negative_prompt": "blur", "sample_params": '
         '{"guidance": {"txt_cfg": 3.5}, "sample_steps": 20}, "seed": 7}</sd_cpp_extra_args>'},
    ),
]


def test_every_profile_has_an_exact_body_case() -> None:
    assert {case[0] for case in CASES} == set(PROFILES)


async def _generate(
    profile: str, settings: dict[str, object], model: str, fields: dict[str, Any], fake: FakeOpenAI
) -> ProviderResult:
    client = httpx.AsyncClient(transport=fake.transport())
    adapter = OpenAIAdapter(provider=profile, settings={"profile": profile, "api_key": SECRET, **settings}, client=client)
    try:
        return await adapter.generate(ImageRequest(model="m", prompt=PROMPT, **fields), ctx(model))
    finally:
        await client.aclose()


@pytest.mark.parametrize(("profile", "settings", "model", "fields", "url", "body"), CASES, ids=[c[0] for c in CASES])
async def test_exact_request_body_per_profile(
    profile: str, settings: dict[str, object], model: str, fields: dict[str, Any], url: str, body: dict[str, Any]
) -> None:
    fake = FakeOpenAI(path=PROFILES[profile].path)
    result = await _generate(profile, settings, model, fields, fake)
    (request,) = fake.requests
    assert str(request.url) == url
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert json.loads(request.content) == body
    assert len(result.images) == fields.get("n", 1)
    if "seed" in PROFILES[profile].extras and "seed" in fields:
        assert result.images[0].seed == fields["seed"]  # the seed sent is the seed reported


async def test_a_dialect_that_answers_urls_is_downloaded_from_its_own_host() -> None:
    """Ollama gets no response_format; a server answering a URL by default is fetched at once."""
    fake = FakeOpenAI(default_format="url")
    result = await _generate("ollama", {"base_url": "http://ollama.local:11434/v1"}, "x/flux2-klein", {}, fake)
    assert [r.url.path for r in fake.requests] == ["/v1/images/generations", "/files/img0.png"]
    assert result.images[0].image_bytes().startswith(b"\x89PNG")


async def test_recraft_vector_models_fail_before_any_io_as_model_unavailable() -> None:
    fake = FakeOpenAI()
    with pytest.raises(ProviderError) as info:
        await _generate("recraft", {}, "recraftv4_vector", {}, fake)
    assert info.value.failure is FailureClass.MODEL_UNAVAILABLE and "SVG" in info.value.message
    assert fake.requests == []


async def test_xai_empty_data_is_a_content_policy_refusal() -> None:
    fake = FakeOpenAI(Failure(no_image=True))
    with pytest.raises(ProviderError) as info:
        await _generate("xai", {}, "grok-imagine-image-quality", {}, fake)
    assert info.value.failure is FailureClass.CONTENT_POLICY


async def test_seedream_has_no_n_so_it_fans_out_and_warns_what_it_drops() -> None:
    adapter = OpenAIAdapter(provider="ark", settings={"profile": "seedream"}, client=httpx.AsyncClient())
    caps = adapter.capabilities("seedream-4-0-250828")
    assert caps.max_n == 1 and caps.supports_seed and caps.edit is False
    fake = FakeOpenAI()
    result = await _generate("seedream", {}, "seedream-4-0-250828", {"steps": 12, "user": "u"}, fake)
    assert "steps: not supported by the seedream profile; dropped" in result.warnings
    assert "user: not supported by this server; dropped" in result.warnings
    with pytest.raises(ProviderError) as info:
        await _generate("seedream", {}, "seedream-4-0-250828", {"n": 2}, fake)
    assert info.value.failure is FailureClass.CALLER_FAULT


def test_capabilities_follow_the_profile() -> None:
    client = httpx.AsyncClient()
    xai = OpenAIAdapter(provider="x", settings={"profile": "xai"}, client=client).capabilities("grok-imagine-image")
    assert xai.aspect_ratios and (20, 9) in xai.aspect_ratios and xai.max_n == 10
    recraft = OpenAIAdapter(provider="r", settings={"profile": "recraft"}, client=client).capabilities("recraftv3")
    assert recraft.sizes and (1820, 1024) in recraft.sizes and recraft.supports_negative_prompt
