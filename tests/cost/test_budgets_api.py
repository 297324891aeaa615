"""Budgets through the app on the embedded default (the in-memory ledger): the 402 and its x402
header, an allowance per period, a key account, streaming and cancelled requests settled."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.api_keys import digest
from gateway.budgets import Budgets, MemoryBudgetStore, Terms
from gateway.budgets.service import CURRENT, Ticket
from gateway.config import parse_config
from gateway.costing import metered
from gateway.settings import Settings
from tests.support.edit import data_url, header_only_png, picture

URL = "/api/v1/image/generate"
SECRET = "ig_test_budget_key_0123456789abcdef"
ROUTING = f"""
providers:
  mock: {{adapter: mock, settings: {{max_n: 4}}}}
models:
  paid:
    deployments: [{{provider: mock, model: m, price: {{per_image: "0.04"}}}}]
  free:
    deployments: [{{provider: mock, model: m}}]
budgets:
  default: {{allowance_usd: "0.10", period: day, prepaid: false}}
  accounts:
    "key:rich": {{prepaid: true}}
auth:
  api_keys:
    - {{name: poor, sha256: {digest(SECRET)}}}
    - {{name: rich, sha256: {digest(SECRET + "x")}}}
"""


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(Settings(), config=parse_config(ROUTING))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def test_allowance_then_402_with_an_x402_challenge(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    rejections = await _rejections(client)
    ok = await client.post(URL, json={"model": "paid", "prompt": "a", "n": 2}, headers=bearer(SECRET))
    assert ok.status_code == 200 and ok.json()["provider_metadata"]["cost"]["usd"] == "0.080000"
    refused = await client.post(URL, json={"model": "paid", "prompt": "a"}, headers=bearer(SECRET))
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "insufficient_balance"
    assert error["message"].startswith("insufficient balance: 0.020000 USD available, this request needs 0.040000 USD")
    challenge = json.loads(base64.b64decode(refused.headers["payment-required"]))
    assert challenge["x402Version"] == 2 and challenge["error"] == error["message"]
    assert [(a["network"], a["amount"]) for a in challenge["accepts"]] == [("imagegate:operator-credit", "40000")]
    assert (await client.post(URL, json={"model": "free", "prompt": "a"}, headers=bearer(SECRET))).status_code == 200
    balance = (await client.get("/api/v1/session/balance", headers=bearer(SECRET))).json()
    assert balance == {"caip_account_id": "key:poor", "balance_micro_usdc": "20000", "balance_usd": "0.020000"}
    assert await _rejections(client) == rejections + 1


async def _rejections(client: AsyncTestClient) -> float:  # type: ignore[type-arg]
    prefix = 'imagegate_budget_rejections_total{reason="insufficient_balance"} '
    lines = (await client.get("/metrics")).text.splitlines()
    return next(float(line[len(prefix) :]) for line in lines if line.startswith(prefix))


async def test_prepaid_key_account_and_a_streamed_request_are_settled(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    services = client.app.state.services
    rich = bearer(SECRET + "x")
    assert (await client.post(URL, json={"model": "paid", "prompt": "a"}, headers=rich)).status_code == 402
    await services.budgets.adjust("key:rich", 100_000)
    stream = await client.post(URL, json={"model": "paid", "prompt": "a", "stream": True}, headers=rich)
    assert stream.status_code == 200 and "event: completed" in stream.text
    snapshot = await services.budgets.snapshot(services.runtime.config.budgets, "key:rich")
    assert (snapshot.balance, snapshot.reserved, snapshot.reservations) == (60_000, 0, 0)


async def test_balance_needs_authentication(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/v1/session/balance")
    assert response.status_code == 401 and response.json()["error"]["code"].startswith("auth_")


async def test_a_request_cancelled_with_calls_in_flight_is_charged_its_reservation() -> None:
    budgets = Budgets(MemoryBudgetStore())
    terms = Terms(allowance=None, period="p", prepaid=True)
    await budgets.adjust("a", 100_000)
    assert (await budgets.store.reserve("a", "r", 40_000, terms, 60_000)).admitted
    started = asyncio.Event()

    async def request() -> None:
        CURRENT.set(Ticket(account="a", rid="r", reserved=40_000, terms=terms, budgets=budgets))
        async with metered("paid", "req-1"):
            started.set()
            await asyncio.Event().wait()  # an upstream call that never answers

    task = asyncio.create_task(request())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snapshot = await budgets.store.snapshot("a", terms)
    assert (snapshot.balance, snapshot.reservations) == (60_000, 0)


EDIT_ROUTING = """
providers:
  mock: {adapter: mock, settings: {max_n: 4}}
models:
  paint:
    deployments: [{provider: mock, model: m, price: {per_image: "0.04"}}]
budgets: {default: {allowance_usd: "0.04", period: day, prepaid: false}}
auth: {enabled: false}
"""


async def test_a_request_refused_after_admission_releases_its_reservation() -> None:
    """The edit codec proves its inputs decode after admission: a bad one must not hold the budget."""
    app = create_app(Settings(), config=parse_config(EDIT_ROUTING))
    bad = {"model": "paint", "prompt": "p", "images": [{"b64": data_url(header_only_png(64, 64))}]}
    good = {"model": "paint", "prompt": "p", "images": [{"b64": data_url(picture((64, 64)))}]}
    async with AsyncTestClient(app=app) as client:
        refused = await client.post("/api/v1/image/edit", json=bad)
        assert refused.status_code == 400 and "does not decode" in refused.json()["error"]["message"]
        services = client.app.state.services
        snapshot = await services.budgets.snapshot(services.runtime.config.budgets, "anonymous")
        assert (snapshot.reservations, snapshot.available) == (0, 40_000)
        edited = await client.post("/api/v1/image/edit", json=good)  # the whole allowance is still there
        assert edited.status_code == 200 and edited.json()["provider_metadata"]["cost"]["usd"] == "0.040000"


async def test_idempotency_replay_reserves_nothing_and_a_402_gives_the_key_back(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    services = client.app.state.services
    rich = {**bearer(SECRET + "x"), "Idempotency-Key": "order-1"}
    body = {"model": "paid", "prompt": "a"}
    assert (await client.post(URL, json=body, headers=rich)).status_code == 402
    await services.budgets.adjust("key:rich", 40_000)  # the operator credits; the same key now runs
    first = await client.post(URL, json=body, headers=rich)
    assert first.status_code == 200, first.text
    replay = await client.post(URL, json=body, headers=rich)  # balance 0 now: a replay still answers
    assert replay.status_code == 200 and replay.headers.get("idempotent-replayed") == "true"
    assert replay.content == first.content
    snapshot = await services.budgets.snapshot(services.runtime.config.budgets, "key:rich")
    assert (snapshot.balance, snapshot.reservations) == (0, 0)
