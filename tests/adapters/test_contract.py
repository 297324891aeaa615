"""The adapter contract: every adapter, the same scenarios, against protocol-faithful fakes."""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest

from adapters.base import ImageAdapter
from adapters.registry import build_adapter
from gateway.canonical import ImageRequest
from gateway.errors import FailureClass, ProviderError
from gateway.imaging import sniff_format
from tests.adapters.fakes import CASES, AdapterCase
from tests.fakes.base import SECRET, Failure, Fake, ctx, fixture, fixture_headers
from tests.routing.helpers import router_for, runtime_with
from tests.routing.helpers import run as run_routed

F = FailureClass


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> AdapterCase:
    return request.param  # type: ignore[no-any-return]


def build(case: AdapterCase, fake: Fake) -> tuple[ImageAdapter, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=fake.transport())
    return build_adapter(case.kind, provider=case.name, settings=case.settings, client=client), client


async def run(case: AdapterCase, failure: Failure | None = None, **req: object) -> tuple[object, Fake]:
    fake = case.fake(failure)
    adapter, client = build(case, fake)
    request = ImageRequest(model="m", prompt="a red fox in snow", **req)  # type: ignore[arg-type]
    try:
        return await adapter.generate(request, ctx(case.model)), fake
    except ProviderError as exc:
        return exc, fake
    finally:
        await client.aclose()


async def expect_failure(case: AdapterCase, failure: Failure, expected: FailureClass) -> ProviderError:
    outcome, _ = await run(case, failure)
    assert isinstance(outcome, ProviderError), outcome
    assert outcome.failure is expected, outcome
    assert SECRET not in outcome.message
    return outcome


async def test_errors_name_the_deployment_provider(case: AdapterCase) -> None:
    """Through the executor (which stamps the deployment's provider on any ProviderError; adapters
    no longer patch names): every adapter's failure is attributed to the provider as configured."""
    fake = case.fake(Failure(status=401, body=b'{"detail": "x"}'))
    client = httpx.AsyncClient(transport=fake.transport())
    provider = f"edge-{case.name}"
    adapter = build_adapter(case.kind, provider=provider, settings=case.settings, client=client)
    yaml_text = (
        f"providers: {{{provider}: {{adapter: mock}}}}\n"
        f"models: {{m: {{deployments: [{{provider: {provider}, model: {case.model}}}]}}}}\n"
        "retry: {attempts: 1}\nauth: {enabled: false}\n"
    )
    runtime = runtime_with(yaml_text, {provider: adapter})  # type: ignore[dict-item]
    try:
        (outcome,) = await run_routed(runtime, router_for(runtime))
    finally:
        await client.aclose()
    assert outcome.error is not None and outcome.error.failure is F.CREDENTIAL, outcome.error
    assert [f.provider for f in outcome.failures] == [provider]


async def test_success_returns_real_images_and_clean_raw(case: AdapterCase) -> None:
    result, fake = await run(case, seed=7, metadata={"tenant": "meta-never-forwarded"})
    assert not isinstance(result, ProviderError), result
    assert fake.calls == 1
    assert result.images and all(sniff_format(i.image_bytes()) is not None for i in result.images)
    raw = json.dumps(msgspec.to_builtins(result.raw))
    assert SECRET not in raw and "sig=" not in raw
    assert "iVBORw0KGgo" not in raw  # base64 payloads elided
    assert all(b"meta-never-forwarded" not in r.content for r in fake.requests)
    if case.reports_seed:
        assert result.images[0].seed is not None
    else:
        assert result.images[0].seed is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, F.CREDENTIAL),
        (403, F.CREDENTIAL),
        (404, F.MODEL_UNAVAILABLE),
        (408, F.TRANSIENT),
        (409, F.TRANSIENT),
        (422, F.CALLER_FAULT),
        (500, F.TRANSIENT),
        (502, F.TRANSIENT),
        (503, F.TRANSIENT),
        (504, F.TRANSIENT),
    ],
)
async def test_generic_error_statuses(case: AdapterCase, status: int, expected: FailureClass) -> None:
    error = await expect_failure(case, Failure(status=status, body=b'{"detail": "x"}'), expected)
    assert error.status == status


async def test_503_passes_retry_after_on(case: AdapterCase) -> None:
    failure = Failure(status=503, body=b"{}", headers={"retry-after": "3"})
    error = await expect_failure(case, failure, F.TRANSIENT)
    assert error.retry_after == 3.0


async def test_429_carries_retry_after(case: AdapterCase) -> None:
    failure = Failure(status=429, body=b'{"detail": "slow down"}', headers={"retry-after": "7"})
    error = await expect_failure(case, failure, F.RATE_LIMITED)
    assert error.retry_after == 7.0


async def test_read_timeout_is_ambiguous(case: AdapterCase) -> None:
    await expect_failure(case, Failure(raise_exc=httpx.ReadTimeout("slow")), F.AMBIGUOUS)


async def test_connect_error_is_connect(case: AdapterCase) -> None:
    await expect_failure(case, Failure(raise_exc=httpx.ConnectError("refused")), F.CONNECT)


async def test_malformed_json_is_upstream_invalid(case: AdapterCase) -> None:
    await expect_failure(case, Failure(malformed=True), F.UPSTREAM_INVALID)


async def test_200_without_image_is_upstream_invalid(case: AdapterCase) -> None:
    await expect_failure(case, Failure(no_image=True), F.UPSTREAM_INVALID)


async def test_non_image_bytes_labelled_image_is_upstream_invalid(case: AdapterCase) -> None:
    await expect_failure(case, Failure(not_image=True), F.UPSTREAM_INVALID)


def _fixture_failure(name: str, status: int) -> Failure:
    return Failure(status=status, body=json.dumps(fixture(name)).encode(), headers=fixture_headers(name))


# Every provider error fixture -> the class the routing policy needs (spec/routing-policy.md).
PROVIDER_ERRORS = [
    (
        "openai",
        "openai/error_400_content_policy_violation.json",
        400,
        F.CONTENT_POLICY,
        "content_policy_violation",
    ),
    ("openai", "openai/error_400_moderation_blocked.json", 400, F.CONTENT_POLICY, "moderation_blocked"),
    ("openai", "openai/error_400_invalid_size.json", 400, F.CALLER_FAULT, "invalid_size"),
    ("openai", "openai/error_400_dalle3_n.json", 400, F.CALLER_FAULT, "invalid_request_error"),
    ("openai", "openai/error_400_stream_n.json", 400, F.CALLER_FAULT, "invalid_request_error"),
    ("openai", "openai/error_401_invalid_api_key.json", 401, F.CREDENTIAL, "invalid_api_key"),
    ("openai", "openai/error_429_rate_limit_images.json", 429, F.RATE_LIMITED, "rate_limit_exceeded"),
    ("openai", "openai/error_429_insufficient_quota.json", 429, F.QUOTA, "insufficient_quota"),
    ("openai", "openai/error_500_server_error.json", 500, F.TRANSIENT, "server_error"),
    ("openai", "openai/error_503_overloaded.json", 503, F.TRANSIENT, "server_error"),
    ("flux", "bfl/error_402_insufficient_credits.json", 402, F.QUOTA, None),
    ("flux", "bfl/error_403_not_authenticated.json", 403, F.CREDENTIAL, None),
    ("flux", "bfl/error_422_validation.json", 422, F.CALLER_FAULT, None),
    ("flux", "bfl/error_429_too_many_active_tasks.json", 429, F.RATE_LIMITED, "rate_limit_exceeded"),
    ("a1111", "a1111/error_404_sampler_not_found.json", 404, F.MODEL_UNAVAILABLE, "HTTPException"),
    ("a1111", "a1111/error_422_validation.json", 422, F.CALLER_FAULT, None),
    ("a1111", "a1111/error_500_oom.json", 500, F.TRANSIENT, "OutOfMemoryError"),
    (
        "comfyui",
        "comfyui/prompt_400_validation.json",
        400,
        F.CALLER_FAULT,
        "prompt_outputs_failed_validation",
    ),
]


@pytest.mark.parametrize(("adapter", "name", "status", "expected", "code"), PROVIDER_ERRORS)
async def test_provider_error_codes(
    adapter: str, name: str, status: int, expected: FailureClass, code: str | None
) -> None:
    case = next(c for c in CASES if c.name == adapter)
    error = await expect_failure(case, _fixture_failure(name, status), expected)
    assert error.provider_code == code
    assert "sk-proj" not in error.message


async def test_openai_rate_limit_uses_fixture_retry_after() -> None:
    case = CASES[0]
    name = "openai/error_429_rate_limit_images.json"
    error = await expect_failure(case, _fixture_failure(name, 429), F.RATE_LIMITED)
    assert error.retry_after == 12.0


async def test_bfl_rate_limit_reads_body_retry_after_without_header() -> None:
    case = next(c for c in CASES if c.name == "flux")
    body = json.dumps(fixture("bfl/error_429_too_many_active_tasks.json")).encode()
    error = await expect_failure(case, Failure(status=429, body=body), F.RATE_LIMITED)
    assert error.retry_after == 5.0


@pytest.mark.parametrize("adapter", ["openai", "flux", "a1111"])
async def test_missing_endpoint_404_is_model_unavailable(adapter: str) -> None:
    case = next(c for c in CASES if c.name == adapter)
    await expect_failure(case, Failure(status=404, body=b'{"detail": "Not Found"}'), F.MODEL_UNAVAILABLE)


async def test_402_is_quota_for_every_adapter(case: AdapterCase) -> None:
    await expect_failure(case, Failure(status=402, body=b"{}"), F.QUOTA)


async def test_400_caller_fault_for_every_adapter(case: AdapterCase) -> None:
    await expect_failure(case, Failure(status=400, body=b"not json at all"), F.CALLER_FAULT)
