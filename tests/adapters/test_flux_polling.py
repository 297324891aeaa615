"""BFL submit -> poll -> download: pending then ready, moderation, task-not-found, deadline, URL rules."""

from __future__ import annotations

import httpx
import pytest

from adapters.flux import FluxAdapter, progress_fraction
from gateway.canonical import ImageRequest, ProgressUpdate
from gateway.errors import FailureClass, ProviderError
from tests.fakes.base import SECRET, ctx, fixture, json_response
from tests.fakes.bfl import FakeBFL
from tests.support.images import distinct_png

SETTINGS = {"api_key": SECRET, "poll_interval_seconds": 0.0}
REQ = ImageRequest(model="flux-pro", prompt="a red fox", seed=1234567890)


async def generate(
    fake: FakeBFL, *, seconds: float = 30.0, settings: dict[str, object] | None = None
) -> object:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=settings or SETTINGS, client=client)
        try:
            return await adapter.generate(REQ, ctx("flux-pro-1.1", seconds=seconds))
        except ProviderError as exc:
            return exc


async def test_pending_several_polls_then_ready() -> None:
    fake = FakeBFL(pending_polls=3)
    result = await generate(fake)
    assert not isinstance(result, ProviderError), result
    assert fake.calls == 1 and fake.polls == 4
    assert result.images[0].image_bytes() == distinct_png(1) and result.images[0].seed == 1234567890
    assert result.raw["submit"]["id"] == result.raw["result"]["id"]
    assert "sig=" not in str(result.raw) and "<redacted>" in result.raw["result"]["result"]["sample"]


async def test_polling_url_is_used_exactly_and_key_only_sent_to_api_hosts() -> None:
    fake = FakeBFL(pending_polls=1)
    await generate(fake)
    submit, *polls, download = fake.requests
    assert str(submit.url) == "https://api.bfl.ai/v1/flux-pro-1.1"
    expected = fixture("bfl/submit_flux-pro-1.1_200.json")["polling_url"]
    assert [str(p.url) for p in polls] == [expected, expected]
    assert all(r.headers["x-key"] == SECRET for r in [submit, *polls])
    assert download.url.host == "delivery-us1.bfl.ai" and "x-key" not in download.headers


@pytest.mark.parametrize(
    "terminal", ["get_result_request_moderated.json", "get_result_content_moderated.json"]
)
async def test_moderated_is_content_policy(terminal: str) -> None:
    fake = FakeBFL(pending_polls=1, terminal=terminal)
    error = await generate(fake)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.CONTENT_POLICY
    assert error.provider_code in ("Request Moderated", "Content Moderated")
    assert len(fake.requests) == 3  # no download attempted


async def test_task_not_found_is_upstream_invalid() -> None:
    error = await generate(FakeBFL(terminal="get_result_task_not_found.json"))
    assert isinstance(error, ProviderError) and error.failure is FailureClass.UPSTREAM_INVALID
    assert error.provider_code == "Task not found"


async def test_task_error_is_transient() -> None:
    error = await generate(FakeBFL(terminal="get_result_error.json"))
    assert isinstance(error, ProviderError) and error.failure is FailureClass.TRANSIENT


async def test_poll_deadline_exceeded() -> None:
    fake = FakeBFL(pending_polls=10**9)
    settings = {**SETTINGS, "poll_interval_seconds": 0.02}
    error = await generate(fake, seconds=0.3, settings=settings)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.DEADLINE
    assert fake.calls == 1 and fake.polls >= 1  # submitted once, never re-submitted


async def test_polling_url_on_foreign_host_is_refused_before_sending_the_key() -> None:
    class Evil(FakeBFL):
        def route(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                return json_response(
                    {"id": "x", "polling_url": "https://attacker.example/v1/get_result?id=x"}
                )
            return super().route(request)

    fake = Evil()
    error = await generate(fake)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.UPSTREAM_INVALID
    assert [r.url.host for r in fake.requests] == ["api.bfl.ai"]


async def test_transient_poll_failures_are_tolerated_then_given_up_without_resubmitting() -> None:
    class Flaky(FakeBFL):
        def route(self, request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and request.url.path == "/v1/get_result":
                self.polls += 1
                if self.polls <= self.pending_polls:
                    return httpx.Response(503, json={"detail": "busy"})
            return super().route(request)

    ok = await generate(Flaky(pending_polls=2))
    assert not isinstance(ok, ProviderError)
    fake = Flaky(pending_polls=100)
    error = await generate(fake)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.UPSTREAM_INVALID
    assert error.provider_code == "polling_failed" and fake.calls == 1 and fake.polls == 4


async def test_download_is_tried_again_then_given_up_without_resubmitting() -> None:
    class NoDelivery(FakeBFL):
        downloads = 0
        fail_first = 10**9

        def route(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "delivery-us1.bfl.ai":
                self.downloads += 1
                if self.downloads <= self.fail_first:
                    if self.downloads % 2:
                        raise httpx.ConnectError("cdn down")
                    return httpx.Response(404)
            return super().route(request)

    flaky = NoDelivery()
    flaky.fail_first = 2
    result = await generate(flaky)
    assert not isinstance(result, ProviderError) and flaky.downloads == 3
    dead = NoDelivery()
    error = await generate(dead)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.UPSTREAM_INVALID
    assert error.provider_code == "result_download_failed" and dead.calls == 1 and dead.downloads == 4


class ShapedBFL(FakeBFL):
    """The first get_result answers are `answers` (then BFL's own pending/ready flow)."""

    def __init__(self, *answers: dict[str, object]) -> None:
        super().__init__()
        self.answers = list(answers)

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/get_result" and self.answers:
            self.polls += 1
            return json_response(self.answers.pop(0))
        return super().route(request)


async def test_a_failed_task_with_free_form_result_is_still_a_task_failure() -> None:
    """`result` is free-form (BFL: Any) for a failed task: the status decides, not the shape."""
    fake = ShapedBFL({"id": "x", "status": "Error", "result": "CUDA out of memory", "progress": None})
    error = await generate(fake)
    assert isinstance(error, ProviderError) and error.failure is FailureClass.TRANSIENT
    assert error.provider_code == "Error" and fake.polls == 1


async def test_a_poll_answer_of_the_wrong_shape_is_polled_again() -> None:
    fake = ShapedBFL({"id": "x", "status": 5}, {"id": "x", "status": "Pending", "progress": "40%"})
    result = await generate(fake)
    assert not isinstance(result, ProviderError), result
    assert fake.calls == 1 and fake.polls == 3  # two garbled answers, then Ready


def test_progress_fraction() -> None:
    """BFL's 0..1 `progress` as steps of 100 for `ctx.report` (moved with adapters/streams.py's helper)."""
    assert progress_fraction(0.4) == ProgressUpdate(step=40, total_steps=100)
    assert progress_fraction(1.7).step == 100 and progress_fraction(-1).step == 0
