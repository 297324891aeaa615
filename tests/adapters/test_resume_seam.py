"""The async-job seam of submit-then-poll adapters (CallContext.submitted / resume): the handle of
the submitted task is reported once, and given back it is polled without a second submit."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from adapters.flux import FluxAdapter
from adapters.local_diffusion import LocalDiffusionAdapter
from gateway.canonical import ImageRequest
from gateway.errors import ProviderError
from tests.fakes.base import SECRET, ctx
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy

BFL = {"api_key": SECRET, "poll_interval_seconds": 0.0}
COMFY = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}


async def test_bfl_reports_the_polling_url_then_resumes_it_without_submitting() -> None:
    fake = FakeBFL(pending_polls=1)
    handles: list[str] = []
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=BFL, client=client)
        first = dataclasses.replace(ctx("flux-pro-1.1"), submitted=handles.append)
        await adapter.generate(ImageRequest(model="m", prompt="fox", seed=5), first)
        assert fake.calls == 1 and len(handles) == 1 and "get_result" in handles[0]
        resumed = dataclasses.replace(ctx("flux-pro-1.1"), submitted=handles.append, resume=handles[0])
        result = await adapter.generate(ImageRequest(model="m", prompt="fox", seed=5), resumed)
    assert fake.calls == 1 and len(handles) == 1  # polled, not submitted; nothing new to report
    assert result.images and result.images[0].data


async def test_bfl_refuses_a_resume_handle_off_its_api_hosts() -> None:
    fake = FakeBFL()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=BFL, client=client)
        hostile = dataclasses.replace(ctx("flux-pro-1.1"), resume="https://evil.example/v1/get_result?id=1")
        with pytest.raises(ProviderError, match="polling_url refused"):
            await adapter.generate(ImageRequest(model="m", prompt="fox"), hostile)
    assert not fake.requests  # the key went nowhere


async def test_comfyui_reports_the_prompt_id_then_waits_on_it_without_queueing() -> None:
    fake = FakeComfy(pending_polls=1)
    handles: list[str] = []
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=COMFY, client=client)
        first = dataclasses.replace(ctx("sd"), submitted=handles.append)
        await adapter.generate(ImageRequest(model="m", prompt="fox"), first)
        assert fake.calls == 1 and len(handles) == 1
        resumed = dataclasses.replace(ctx("sd"), resume=handles[0])
        result = await adapter.generate(ImageRequest(model="m", prompt="fox"), resumed)
    assert fake.calls == 1 and result.images
