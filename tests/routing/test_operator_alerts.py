"""Issue 14 item 9: 401/403 (our key), 402 and insufficient_quota are logged for the operator, once
per deployment per interval, with the provider's sanitised message and never the key."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from gateway.canonical import ImageRequest
from gateway.config import parse_config
from gateway.routing.executor import Router, execute
from gateway.runtime import Runtime
from tests.fakes.base import SECRET, Failure, fixture
from tests.fakes.bfl import FakeBFL
from tests.fakes.openai import FakeOpenAI
from tests.routing.helpers import FakeClock

BFL_KEY = "0d9e3c1a-7f42-4b8e-9c55-1e2f3a4b5c6d"  # BFL keys have no recognisable prefix
ROUTING = f"""
providers:
  openai: {{adapter: openai, settings: {{api_key: {SECRET}}}}}
  bfl: {{adapter: flux, settings: {{api_key: {BFL_KEY}, poll_interval_seconds: 0}}}}
models:
  gpt: {{deployments: [{{provider: openai, model: gpt-image-1}}]}}
  flux: {{deployments: [{{provider: bfl, model: flux-pro-1.1}}]}}
"""


def _failing(fixture_name: str, status: int, echo: str = "") -> Failure:
    body = fixture(fixture_name)
    error = body.get("error")
    if echo and isinstance(error, dict):  # a provider that echoes what it was sent, with a CR/LF
        error["message"] += f"\r\nforged: {echo}"
    elif echo:
        body["detail"] = f"{body.get('detail', '')} key {echo}"
    return Failure(status=status, body=json.dumps(body).encode())


async def _generate(fake: FakeOpenAI | FakeBFL, router: Router, model: str, times: int) -> None:
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        runtime = Runtime.build(parse_config(ROUTING), client)
        for _ in range(times):
            req = ImageRequest(model=model, prompt="a fox")
            outcomes = await execute(
                runtime, req, slug=model, request_id="r", deadline=time.monotonic() + 30, router=router
            )
            assert outcomes[0].result is None


def _alerts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "imagegate.routing" and r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("fixture_name", "status", "failure"),
    [
        ("openai/error_401_invalid_api_key.json", 401, "credential"),
        ("openai/error_429_insufficient_quota.json", 429, "quota"),
    ],
)
async def test_openai_key_and_quota_failures_are_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture, fixture_name: str, status: int, failure: str
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    router = Router.local(parse_config(ROUTING), clock=clock)
    fake = FakeOpenAI(_failing(fixture_name, status, echo=SECRET))
    await _generate(fake, router, "gpt", times=2)
    lines = _alerts(caplog)
    assert len(lines) == 1, lines  # two failures within the interval: one line
    assert "deployment openai/gpt-image-1" in lines[0] and f"({failure}, HTTP {status}" in lines[0]
    said = fixture(fixture_name)["error"]["message"][:25]
    assert said in lines[0]  # the provider's own words ...
    assert "\r" not in lines[0] and "\n" not in lines[0]  # ... without a forged line
    clock.advance(61)
    await _generate(fake, router, "gpt", times=1)
    lines = _alerts(caplog)
    assert len(lines) == 2 and "[1 more since the last report" in lines[1]
    assert fake.calls == 0 and len(fake.requests) == 3  # never retried
    assert all(SECRET not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("fixture_name", "status"),
    [("bfl/error_402_insufficient_credits.json", 402), ("bfl/error_403_not_authenticated.json", 403)],
)
async def test_bfl_credit_and_key_failures_are_logged_without_the_key(
    caplog: pytest.LogCaptureFixture, fixture_name: str, status: int
) -> None:
    caplog.set_level(logging.INFO)
    router = Router.local(parse_config(ROUTING), clock=FakeClock())
    await _generate(FakeBFL(_failing(fixture_name, status, echo=BFL_KEY)), router, "flux", times=2)
    lines = _alerts(caplog)
    assert len(lines) == 1 and "deployment bfl/flux-pro-1.1" in lines[0] and f"HTTP {status}" in lines[0]
    assert "provider said: (no message)" not in lines[0]
    assert all(BFL_KEY not in record.getMessage() for record in caplog.records)
