"""A Gemini deployment edits through the executor (Operation.EDIT: the chain filtered by edit
capabilities), and an Imagen deployment in the same chain is skipped."""

from __future__ import annotations

import json
import time

import httpx

from adapters.google import GoogleAdapter
from gateway.canonical import ImageRequest, InputImage, Operation
from gateway.routing.executor import execute
from tests.fakes.base import SECRET
from tests.fakes.google import FakeGoogle
from tests.routing.helpers import router_for, runtime_with
from tests.support.images import distinct_png


async def test_edit_routes_to_gemini_and_skips_imagen() -> None:
    fake = FakeGoogle()
    client = httpx.AsyncClient(transport=fake.transport())
    imagen = GoogleAdapter(provider="imagen", settings={"api_key": SECRET}, client=client)
    gemini = GoogleAdapter(provider="gemini", settings={"api_key": SECRET}, client=client)
    yaml_text = (
        "providers: {imagen: {adapter: mock}, gemini: {adapter: mock}}\n"
        "models: {m: {deployments: [{provider: imagen, model: imagen-4.0-generate-001},"
        " {provider: gemini, model: gemini-2.5-flash-image}]}}\n"
        "retry: {attempts: 1}\nauth: {enabled: false}\n"
    )
    runtime = runtime_with(yaml_text, {"imagen": imagen, "gemini": gemini})  # type: ignore[dict-item]
    base = InputImage(data=distinct_png(1), media_type="image/png", width=64, height=48)
    req = ImageRequest(model="m", prompt="make it night", images=(base,))
    try:
        outcomes = await execute(
            runtime, req, slug="m", request_id="r", deadline=time.monotonic() + 30, router=router_for(runtime),
            operation=Operation.EDIT,
        )
    finally:
        await client.aclose()
    (outcome,) = outcomes
    assert outcome.error is None and outcome.result is not None and len(outcome.result.images) == 1
    (request,) = fake.requests
    assert request.url.path.endswith("gemini-2.5-flash-image:generateContent")
    assert len(json.loads(request.content)["contents"][0]["parts"]) == 2
