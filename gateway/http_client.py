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

Every response body is also bounded here, so no adapter path (JSON, download, stream) can read a
hostile body whole: the bytes are counted as they arrive and the read stops at the client's
`max_response_bytes` (a declared Content-Length over the cap fails before reading). Without an
operator cap the cap follows the call: the executor says how many images the call asked for
(`images_asked`, a context variable: adapters stay unaware) and the cap is 32 MiB or 16 MiB per image,
whichever is larger. A gzip/deflate
body is inflated here, in bounded steps, so the cap counts what the body expands to (a small
"gzip bomb" cannot grow past it either). Both raise `ResponseRefused` (an httpx.DecodingError),
which `upstream` maps to UPSTREAM_INVALID: the provider answered, with a body we will not take.
"""

from __future__ import annotations

import contextvars
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

from gateway.config.providers import DEFAULT_MAX_RESPONSE_BYTES, RESPONSE_BYTES_PER_IMAGE

POOL_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=30.0)
_INFLATED = ("gzip", "x-gzip", "deflate")  # the only encodings we ask for (Accept-Encoding below)
_INFLATE_STEP = 256 * 1024


class ResponseRefused(httpx.DecodingError):
    """A provider body larger than the cap, or in a content-encoding we did not ask for."""


# How many images the provider call in this task asked for (set by the executor around each call).
images_asked: contextvars.ContextVar[int] = contextvars.ContextVar("images_asked", default=1)


def response_cap(fixed: int | None) -> int:
    """The operator's cap, or the per-call default from the images this call asked for."""
    if fixed is not None:
        return fixed
    return max(DEFAULT_MAX_RESPONSE_BYTES, RESPONSE_BYTES_PER_IMAGE * max(1, images_asked.get()))


def build_client(timeout: httpx.Timeout, *, max_response_bytes: int | None = None) -> httpx.AsyncClient:
    """An AsyncClient for providers: no redirects, aiohttp pool with precise failure mapping, every
    response body capped at `max_response_bytes` (after inflating gzip/deflate)."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        headers={"accept-encoding": "gzip, deflate"},  # never br/zstd: we inflate (and bound) these two
        transport=_Transport(limits=POOL_LIMITS, max_response_bytes=max_response_bytes),
    )


def direct(client: httpx.AsyncClient) -> _Transport | None:
    """The client's aiohttp transport when it is ours (production), else None (tests inject
    `httpx.MockTransport`: their calls keep going through httpx)."""
    transport = getattr(client, "_transport", None)  # httpx keeps the mounted transport here
    return transport if isinstance(transport, _Transport) else None


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
    """The body as it arrives, inflated if it was gzip/deflate, stopped past `max_bytes`."""

    def __init__(self, inner: httpx.AsyncByteStream, max_bytes: int, inflate: bool) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        # wbits 47: zlib or gzip header, detected (a "deflate" body is zlib-wrapped per RFC 9110).
        self._inflater = zlib.decompressobj(wbits=47) if inflate else None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = received = 0
        try:
            async for chunk in self._inner:
                received += len(chunk)
                for piece in self._inflated(chunk):
                    size += len(piece)
                    if size > self._max_bytes:
                        raise ResponseRefused(f"response body exceeds {self._max_bytes} bytes")
                    yield piece
            if self._inflater is not None and received:
                tail = self._inflater.flush()
                if not self._inflater.eof or size + len(tail) > self._max_bytes:
                    raise ResponseRefused("compressed response body is truncated or too large")
                if tail:
                    yield tail
        except zlib.error as exc:
            raise ResponseRefused("compressed response body does not inflate") from exc
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _remap(exc) from exc

    def _inflated(self, chunk: bytes) -> Iterator[bytes]:
        """The chunk itself, or what it inflates to in pieces of at most _INFLATE_STEP bytes (one
        16 KiB read of a gzip bomb can expand to megabytes: never let it do so in one go)."""
        if self._inflater is None:
            yield chunk
            return
        while chunk:
            piece = self._inflater.decompress(chunk, _INFLATE_STEP)
            if piece:
                yield piece
            chunk = self._inflater.unconsumed_tail

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Transport(AiohttpTransport):
    def __init__(self, *, limits: httpx.Limits, max_response_bytes: int | None) -> None:
        super().__init__(limits=limits)
        self._max_response_bytes = max_response_bytes

    async def request_read(
        self, method: str, url: str, content: bytes | None, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> httpx.Response:
        """One exchange on aiohttp directly, body read: what `handle_async_request` does for the same
        call through httpx (same timeouts, failure mapping, cap and inflation), without httpx's
        Request/Client layers (~280 µs of CPU per call on the bench machine, docs/benchmarks.md).
        `upstream.send` takes it for plain calls (no params, files, auth or userinfo)."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        try:
            with map_aiohttp_exceptions():
                raw = await self.client.request(
                    method,
                    url,
                    headers=dict(headers),
                    data=content,
                    allow_redirects=False,
                    auto_decompress=False,
                    compress=False,
                    timeout=aiohttp.ClientTimeout(
                        sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
                    ),
                ).__aenter__()
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _remap(exc) from exc
        request = httpx.Request(method, url)
        body = await self._read_declared(raw)
        if body is not None:
            return httpx.Response(raw.status, headers=raw.raw_headers, content=body, request=request)
        response = httpx.Response(
            raw.status, headers=raw.raw_headers, stream=AiohttpResponseStream(raw), request=request
        )
        response = await self._bounded(request, response)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _read_declared(self, raw: aiohttp.ClientResponse) -> bytes | None:
        """The whole body in one read when it is plain (no content-encoding) and its declared
        Content-Length is within the cap — the usual provider answer; None for every other body,
        which takes the counted, inflating stream. aiohttp stops at the declared length, so the cap
        holds; one join of the socket reads instead of a chunk-by-chunk walk through httpx's
        stream layers (~1 ms of CPU for a 2 MB image's body on the bench machine)."""
        declared = raw.headers.get("content-length", "")
        encoding = raw.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity" or not declared.isdigit():
            return None
        if int(declared) > response_cap(self._max_response_bytes):
            return None  # `_bounded` refuses it with the usual message
        try:
            with map_aiohttp_exceptions():
                return await raw.read()  # releases the connection to the pool once read whole
        except BaseException as exc:
            raw.close()  # a connection with a half-read body is never reused
            if isinstance(exc, httpx.TransportError | aiohttp.ClientError):
                raise _remap(exc) from exc
            raise

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.userinfo:
            # httpx already turned `user:pass@` into an Authorization header; aiohttp refuses a URL
            # that carries the credentials a second time.
            request.url = request.url.copy_with(userinfo=b"")
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            raise _remap(exc) from exc
        return await self._bounded(request, response)

    async def _bounded(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        """The response with its body counted against the cap and gzip/deflate inflated in steps."""
        assert isinstance(response.stream, httpx.AsyncByteStream)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        declared = response.headers.get("content-length", "")
        cap = response_cap(self._max_response_bytes)
        reason = None
        if encoding not in ("identity", *_INFLATED):
            reason = f"content-encoding {encoding!r} was not asked for"
        elif declared.isdigit() and int(declared) > cap:
            reason = f"declared size {declared} bytes is over the {cap}-byte cap"
        if reason is not None:
            await response.aclose()
            raise ResponseRefused(f"response refused: {reason}", request=request)
        inflate = encoding in _INFLATED
        stream = _Stream(response.stream, cap, inflate)
        if not inflate:
            response.stream = stream
            return response
        # httpx must not inflate a second time: hand it the inflated body without the encoding.
        dropped = ("content-encoding", "content-length")
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in dropped]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=stream,
            request=request,
            extensions=response.extensions,
        )
