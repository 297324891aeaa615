"""Hot reload: a valid file swaps atomically under load; an invalid one keeps the old config."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
from litestar.testing import AsyncTestClient

from gateway import metrics
from gateway.app import create_app
from gateway.auth.principal import AnonymousAuthenticator
from gateway.config import load_config
from gateway.reload import Reloader
from gateway.routing.executor import Router
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.settings import Settings
from gateway.state import MemoryStore

URL = "/api/v1/image/generate"

V1 = """
providers:
  mock: {adapter: mock, settings: {latency_ms: 20}}
models:
  img:
    deployments: [{provider: mock, model: v1}]
  one:
    deployments: [{provider: mock, model: v1}]
auth: {enabled: false}
"""
V2 = V1.replace("one:", "two:").replace("model: v1", "model: v2")
BODY = {"prompt": "a cat", "width": 64, "height": 64}


async def test_valid_reload_under_concurrent_requests_loses_none(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(V1)
    app = create_app(Settings(config_path=str(path)))
    async with AsyncTestClient(app=app) as client:
        services, reloader = app.state.services, app.state.reloader
        first = services.runtime

        async def request() -> tuple[int, str]:
            response = await client.post(URL, json={**BODY, "model": "img"})
            served_by = response.json()["provider_metadata"]["model"] if response.status_code == 200 else ""
            return response.status_code, served_by

        async def flip() -> None:
            for text in (V2, V1, V2):
                await asyncio.sleep(0.02)
                path.write_text(text)
                assert await reloader.reload() is True

        *results, _ = await asyncio.gather(*(request() for _ in range(24)), flip())
        assert [status for status, _ in results] == [200] * 24  # none lost across three swaps
        assert {model for _, model in results} <= {"v1", "v2"}
        assert services.runtime is not first and "two" in services.runtime.config.models
        response = await client.post(URL, json={**BODY, "model": "img"})
        assert response.json()["provider_metadata"]["model"] == "v2"


async def test_in_flight_request_finishes_on_the_old_config(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(V1.replace("latency_ms: 20", "latency_ms: 300"))
    app = create_app(Settings(config_path=str(path)))
    async with AsyncTestClient(app=app) as client:
        pending = asyncio.ensure_future(client.post(URL, json={**BODY, "model": "one"}))
        await asyncio.sleep(0.1)
        path.write_text(V2)
        assert await app.state.reloader.reload() is True
        response = await pending
        assert response.status_code == 200  # "one" no longer exists, but this request started on it
        assert response.json()["provider_metadata"]["model"] == "v1"


async def test_invalid_file_is_rejected_and_the_old_config_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(V1)
    app = create_app(Settings(config_path=str(path)))
    failed = metrics.CONFIG_RELOADS.labels("failed")
    before = failed._value.get()
    async with AsyncTestClient(app=app) as client:
        runtime = app.state.services.runtime
        for broken in ("providers: [", V1.replace("deployments:", "deploymnets:"), V1.replace("adapter: mock", "adapter: nope")):
            path.write_text(broken)
            assert await app.state.reloader.reload() is False
            assert app.state.services.runtime is runtime
        response = await client.post(URL, json={**BODY, "model": "one"})
        assert response.status_code == 200
    assert failed._value.get() == before + 3


async def test_sighup_triggers_a_reload(tmp_path: Path) -> None:
    # The test client runs the app's lifespan in a worker thread, where signals cannot be handled;
    # `imagegate serve` runs it in the main thread. So wire a Reloader here, in the main thread.
    path = tmp_path / "routing.yaml"
    path.write_text(V1)
    config = load_config(path)
    async with httpx.AsyncClient() as http:
        services = Services(
            settings=Settings(config_path=str(path)),
            runtime=Runtime.build(config, http),
            store=MemoryStore(),
            authenticator=AnonymousAuthenticator(),
            router=Router.local(config),
        )
        reloader = Reloader(services, str(path), lambda c: Runtime.build(c, http))
        reloader.start()
        try:
            path.write_text(V2)
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(200):
                if "two" in services.runtime.config.models:
                    break
                await asyncio.sleep(0.01)
            assert "two" in services.runtime.config.models
        finally:
            await reloader.aclose()
            await services.runtime.aclose()


async def test_file_watch_reloads_when_enabled(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(V1 + "server: {watch_config_seconds: 0.05}\n")
    app = create_app(Settings(config_path=str(path)))
    async with AsyncTestClient(app=app):
        await asyncio.sleep(0.1)
        path.write_text(V2 + "server: {watch_config_seconds: 0.05}\n# changed\n")
        for _ in range(200):
            if "two" in app.state.services.runtime.config.models:
                break
            await asyncio.sleep(0.02)
        assert "two" in app.state.services.runtime.config.models
