"""Per-deployment `options:` (issue 14 item 10): each adapter declares them as a Struct, check-config
names a bad key with its YAML path, and every declared option reaches the provider's fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from adapters.base import NoOptions
from adapters.flux import FluxAdapter, FluxOptions
from adapters.local_diffusion import LocalDiffusionAdapter, LocalDiffusionOptions
from adapters.openai_images import OpenAIAdapter, OpenAIOptions
from adapters.registry import options_type
from gateway import cli
from gateway.canonical import ImageRequest, OutputFormat
from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import SECRET, ctx
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy
from tests.fakes.openai import FakeOpenAI

# One non-default value for every field each adapter declares: the test fails when a field is
# added without reaching the provider.
OPENAI = {"output_compression": 55, "background": "opaque", "moderation": "low"}
FLUX = {"prompt_upsampling": True, "raw": True}
LOCAL = {"sampler_name": "DPM++ 2M", "scheduler": "Karras"}


@pytest.mark.parametrize(
    ("kind", "struct", "values"),
    [
        ("openai", OpenAIOptions, OPENAI),
        ("flux", FluxOptions, FLUX),
        ("local_diffusion", LocalDiffusionOptions, LOCAL),
    ],
)
def test_every_declared_option_is_covered(
    kind: str, struct: type[msgspec.Struct], values: dict[str, Any]
) -> None:
    assert options_type(kind) is struct
    assert set(struct.__struct_fields__) == set(values)
    assert options_type("mock") is NoOptions


async def test_openai_options_reach_the_request() -> None:
    fake = FakeOpenAI()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = OpenAIAdapter(provider="openai", settings={"api_key": SECRET}, client=client)
        req = ImageRequest(model="m", prompt="fox", output_format=OutputFormat.WEBP)
        await adapter.generate(req, ctx("gpt-image-1", options=OPENAI))
    body = json.loads(fake.requests[-1].content)
    assert {key: body.get(key) for key in OPENAI} == OPENAI


async def test_flux_options_reach_the_submit() -> None:
    fake = FakeBFL()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(
            provider="bfl", settings={"api_key": SECRET, "poll_interval_seconds": 0.0}, client=client
        )
        await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("flux-pro-1.1-ultra", options=FLUX))
    submit = next(r for r in fake.requests if r.method == "POST")
    body = json.loads(submit.content)
    assert {key: body.get(key) for key in FLUX} == FLUX


async def test_a1111_options_reach_txt2img_and_override_the_settings() -> None:
    fake = FakeA1111()
    settings = {"backend": "a1111", "base_url": "http://sd.local:7860", "sampler_name": "Euler a"}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="sd", settings=settings, client=client)
        await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd15", options=LOCAL))
        body = json.loads(fake.requests[-1].content)
        assert {key: body.get(key) for key in LOCAL} == LOCAL
        await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd15"))
        assert json.loads(fake.requests[-1].content)["sampler_name"] == "Euler a"  # the setting


async def test_comfyui_options_reach_the_bundled_workflow() -> None:
    fake = FakeComfy()
    settings = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=settings, client=client)
        await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd15.safetensors", options=LOCAL))
    sampler = fake.prompts[-1]["prompt"]["3"]["inputs"]
    assert {key: sampler.get(key) for key in LOCAL} == LOCAL


ROUTING = """
providers:
  {provider}
models:
  m:
    deployments:
      - {{provider: p, model: x, options: {options}}}
"""


@pytest.mark.parametrize(
    ("provider", "options", "path"),
    [
        ("p: {adapter: local_diffusion, settings: {backend: a1111}}", "{sampler_nme: Euler}", "sampler_nme"),
        ("p: {adapter: local_diffusion, settings: {backend: comfyui}}", "{scheduler: 3}", "scheduler"),
        ("p: {adapter: openai, settings: {api_key: k}}", "{output_compression: 500}", "output_compression"),
        ("p: {adapter: openai, settings: {api_key: k}}", "{backgound: transparent}", "backgound"),
        ("p: {adapter: flux, settings: {api_key: k}}", "{raw: 'yes'}", "raw"),
        ("p: {adapter: mock}", "{anything: 1}", "anything"),
    ],
)
def test_check_config_names_a_bad_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, options: str, path: str
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING.format(provider=provider, options=options))
    assert cli.main(["check-config", str(routing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {routing}: models.m.deployments[0].options.{path}:"), err
