"""A gateway replica for the multi-process tests: `uvicorn --factory tests.limits.replica_app:create`.

It is the real app (create_app from the environment: REDIS_URL, IMAGEGATE_CONFIG) with two test seams:
an `http_probe` adapter that POSTs to a fake upstream URL (so one upstream can count what is in flight
across every replica), and an authenticator that takes the account from `X-Test-Account`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx
from litestar import Litestar

from adapters.registry import register
from gateway.app import create_app
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderImage, ProviderResult
from gateway.errors import FailureClass, ProviderError
from gateway.settings import Settings
from tests.limits.test_limits_api import HeaderAuthenticator


class HttpProbeAdapter:
    kind: ClassVar[str] = "http_probe"

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._url = str(settings["url"])
        self._client = client

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities(max_n=1)

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        response = await self._client.post(self._url, content=b"{}")
        if response.status_code != 200:
            raise ProviderError("probe", FailureClass.TRANSIENT, f"status {response.status_code}")
        return ProviderResult(
            images=[ProviderImage(data=response.content)], raw={"bytes": len(response.content)}
        )

    async def aclose(self) -> None:
        return None


def create() -> Litestar:
    # Registered here, in the replica process the factory builds, not as a side effect of importing.
    register("http_probe")(HttpProbeAdapter)
    app = create_app(Settings.from_env())

    async def install_test_authenticator(app: Litestar) -> None:
        app.state.services.authenticator = HeaderAuthenticator()

    app.on_startup.append(install_test_authenticator)
    return app
