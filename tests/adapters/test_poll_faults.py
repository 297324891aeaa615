"""Issue 14 item 5: a poll or result download that fails in any shape (an HTML page or a truncated
body in a 200, a 404 from /view right after completion) is asked again within the deadline; the
task, which already exists and may be billed, is never abandoned or submitted a second time."""

from __future__ import annotations

import httpx
import pytest

from adapters.flux import FluxAdapter
from adapters.local_diffusion import LocalDiffusionAdapter
from gateway.canonical import ImageRequest, ProviderResult
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, ctx, fixture
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy

HTML = httpx.Response(200, content=b"<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"})
BAD_REPLIES = {
    "html": lambda: HTML,
    "truncated": lambda: httpx.Response(200, content=b'{"id": "b9b1", "status": "Pen', headers={"content-type": "application/json"}),
    "not_an_object": lambda: httpx.Response(200, json=["Pending"]),
    # JSON nested past the decoder's recursion limit: RecursionError, not a DecodeError
    "deeply_nested": lambda: httpx.Response(200, content=b"[" * 100_000, headers={"content-type": "application/json"}),
    "deeply_nested_503": lambda: httpx.Response(503, content=b"[" * 100_000, headers={"content-type": "application/json"}),
}
COMFY_SETTINGS = {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0}
COMFY_PROMPT_ID = fixture("comfyui/prompt_200.json")["prompt_id"]


class GarbledBFL(FakeBFL):
    """The first `bad` get_result answers are `reply()` instead of BFL's JSON."""

    def __init__(self, reply: object, bad: int) -> None:
        super().__init__(pending_polls=1)
        self.reply, self.bad, self.bad_sent = reply, bad, 0

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/get_result" and self.bad_sent < self.bad:
            self.bad_sent += 1
            return self.reply()  # type: ignore[operator, no-any-return]
        return super().route(request)


class GarbledComfy(FakeComfy):
    """The first `bad_history` /history answers are `reply()`; the first `missing_views` /view GETs 404."""

    def __init__(self, reply: object = None, *, bad_history: int = 0, missing_views: int = 0) -> None:
        super().__init__(pending_polls=1)
        self.reply, self.bad_history, self.missing_views = reply, bad_history, missing_views
        self.views = 0

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"/history/{COMFY_PROMPT_ID}" and self.bad_history > 0:
            self.bad_history -= 1
            return self.reply()  # type: ignore[operator, no-any-return]
        if path == "/view":
            self.views += 1
            if self.views <= self.missing_views:
                return httpx.Response(404, content=b"404: Not Found", headers={"content-type": "text/plain"})
        return super().route(request)


async def _flux(fake: FakeBFL) -> ProviderResult | ProviderError:
    settings = {"api_key": SECRET, "poll_interval_seconds": 0.0}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=settings, client=client)
        try:
            return await adapter.generate(ImageRequest(model="flux", prompt="fox", seed=7), ctx("flux-pro-1.1"))
        except ProviderError as exc:
            return exc


async def _comfy(fake: FakeComfy) -> ProviderResult | ProviderError:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="comfy", settings=COMFY_SETTINGS, client=client)
        try:
            return await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("sd15.safetensors"))
        except ProviderError as exc:
            return exc


@pytest.mark.parametrize("shape", sorted(BAD_REPLIES))
async def test_one_garbled_bfl_poll_is_polled_again_not_abandoned(shape: str) -> None:
    fake = GarbledBFL(BAD_REPLIES[shape], bad=1)
    result = await _flux(fake)
    assert isinstance(result, ProviderResult), result
    assert fake.calls == 1 and fake.bad_sent == 1 and len(result.images) == 1  # one submit, then success


BFL_BAD_REPLIES = {
    "html": BAD_REPLIES["html"],
    # "Ready" with no result object: polling on as if pending ran to the deadline (504, no fallback)
    "ready_without_result": lambda: httpx.Response(200, json={"id": "b9b1", "status": "Ready", "result": None}),
}


@pytest.mark.parametrize("shape", sorted(BFL_BAD_REPLIES))
async def test_garbled_bfl_polls_are_given_up_like_other_poll_failures_without_resubmitting(shape: str) -> None:
    fake = GarbledBFL(BFL_BAD_REPLIES[shape], bad=100)
    error = await _flux(fake)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.UPSTREAM_INVALID
    assert error.provider_code == "polling_failed"  # "BFL: polling failed" row: fall back, never re-submit
    assert fake.calls == 1 and fake.bad_sent == 4  # max_poll_errors (3) tolerated, the 4th gives up


@pytest.mark.parametrize("shape", sorted(BAD_REPLIES))
async def test_one_garbled_comfy_history_is_polled_again(shape: str) -> None:
    fake = GarbledComfy(BAD_REPLIES[shape], bad_history=1)
    result = await _comfy(fake)
    assert isinstance(result, ProviderResult), result
    assert fake.calls == 1 and len(result.images) == 1


async def test_a_comfy_view_404_right_after_completion_is_fetched_again() -> None:
    fake = GarbledComfy(missing_views=1)
    result = await _comfy(fake)
    assert isinstance(result, ProviderResult), result
    assert fake.calls == 1 and fake.views == 2


async def test_a_comfy_view_that_stays_missing_is_given_up() -> None:
    fake = GarbledComfy(missing_views=100)
    error = await _comfy(fake)
    assert isinstance(error, ProviderError) and error.status == 404
    assert fake.calls == 1 and fake.views == 4  # bounded by max_poll_errors
