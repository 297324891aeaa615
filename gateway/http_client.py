"""The provider HTTP client: httpx's API on aiohttp's connection pool (the `httpx-aiohttp` transport).

Why: httpx's own pool (httpcore) costs ~1.4 ms of CPU per upstream call on this project's bench
machine and degrades as concurrency grows (266 req/s at 64 in flight, 121 at 128); the aiohttp
transport costs ~0.45 ms and holds ~1,100 req/s at 64 (bench/http_clients.py, docs/benchmarks.md).

httpx-aiohttp maps aiohttp's exceptions coarsely (a server that drops the connection after the
request was sent becomes `httpx.ConnectTimeout`, which would read as "nothing was sent"). Retry
policy depends on that distinction, so failures are re-mapped here by what actually happened:

    aiohttp.ClientConnectorError (no connection)      -> httpx.ConnectError    (CONNECT)
    aiohttp.ConnectionTimeoutError (connect timeout)   -> httpx.ConnectTimeout  (CONNECT)
    aiohttp.SocketTimeoutError (read timeout)          -> httpx.ReadTimeout     (AMBIGUOUS)
    any other aiohttp connection or payload error      -> httpx.ReadError       (AMBIGUOUS)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=30.0)


def build_client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    """An AsyncClient for providers: no redirects, aiohttp pool with precise failure mapping."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=_Transport(limits=POOL_LIMITS))


def _remap(exc: Exception) -> Exception:
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(f"could not connect: {type(cause).__name__}")
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout("connect timed out")
    if isinstance(cause, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout("read timed out")
    if isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return httpx.ReadError(f"connection failed after sending: {type(cause).__name__}")
    return exc


class _Stream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _remap(exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Transport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.userinfo:
            # httpx already turned `user:pass@` into an Authorization header; aiohttp refuses a URL
            # that carries the credentials a second time.
            request.url = request.url.copy_with(userinfo=b"")
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _remap(exc) from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Stream(response.stream)
        return response
