"""`upstream.send` on the production client calls aiohttp directly (`_Transport.request_read`):
the same mapping, reuse, cap and inflation as the httpx path, which test-injected transports keep."""

from __future__ import annotations

import asyncio
import gzip
import socket

import httpx
import pytest

from gateway import upstream
from gateway.errors import FailureClass, ProviderError
from gateway.http_client import ResponseRefused, build_client, direct
from tests.upstream.test_http_client import Handler, _read_request, _serve, half_body, hang_up, ok, silent

JSON = {"content-type": "application/json"}


async def test_plain_calls_go_direct_and_reuse_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    peers: set[int] = set()
    calls: list[str] = []

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.add(writer.get_extra_info("peername")[1])
        await ok(reader, writer)

    async for url in _serve(counting):
        async with build_client(httpx.Timeout(5.0)) as client:
            transport = direct(client)
            assert transport is not None
            original = transport.request_read

            async def spy(*args: object, _original: object = original, **kwargs: object) -> httpx.Response:
                calls.append("direct")
                return await _original(*args, **kwargs)  # type: ignore[operator, no-any-return]

            monkeypatch.setattr(transport, "request_read", spy)
            for _ in range(3):
                response = await upstream.send(client, "p", "POST", url, json={"prompt": "a cat"})
                assert response.status_code == 200 and response.json() == {"data": [1]}
    assert calls == ["direct"] * 3 and len(peers) == 1


async def test_an_injected_transport_keeps_the_httpx_path() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport) as client:
        assert direct(client) is None
        await upstream.send(client, "p", "POST", "http://x.test/v1", json={"a": 1})
    assert seen and seen[0].headers["content-type"] == "application/json"


async def test_refused_connection_is_connect() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with build_client(httpx.Timeout(5.0)) as client:
            with pytest.raises(ProviderError) as caught:
                await upstream.send(client, "p", "POST", f"http://127.0.0.1:{port}/", json={})
    assert caught.value.failure is FailureClass.CONNECT


async def stalled_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Headers and a declared length, part of the body, then nothing."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 5000)
    await writer.drain()
    await asyncio.sleep(5)
    writer.close()


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (hang_up, httpx.ReadError),
        (half_body, httpx.ReadError),
        (silent, httpx.ReadTimeout),
        (stalled_body, httpx.ReadTimeout),
    ],
)
async def test_failures_after_sending_are_never_connect(handler: Handler, expected: type[Exception]) -> None:
    async for url in _serve(handler):
        async with build_client(httpx.Timeout(0.5, connect=5.0)) as client:
            transport = direct(client)
            assert transport is not None
            with pytest.raises(httpx.TransportError) as caught:
                await transport.request_read("POST", url, b"{}", JSON, httpx.Timeout(0.5, connect=5.0))
            with pytest.raises(ProviderError) as mapped:
                await upstream.send(client, "p", "POST", url, json={}, timeout=0.5)
    assert isinstance(caught.value, expected)
    assert mapped.value.failure is not FailureClass.CONNECT


async def test_the_cap_and_gzip_hold_on_the_direct_path() -> None:
    packed = gzip.compress(b'{"data": [2]}')

    async def gz(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed)
        writer.write(head + packed)
        await writer.drain()
        writer.close()

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + b"x" * 5000)
        await writer.drain()
        writer.close()

    async for url in _serve(gz):
        async with build_client(httpx.Timeout(5.0)) as client:
            response = await upstream.send(client, "p", "POST", url, json={})
    assert response.json() == {"data": [2]} and "content-encoding" not in response.headers
    async for url in _serve(big):
        async with build_client(httpx.Timeout(5.0), max_response_bytes=1000) as client:
            transport = direct(client)
            assert transport is not None
            with pytest.raises(ResponseRefused):
                await transport.request_read("POST", url, b"{}", JSON, httpx.Timeout(5.0))


async def test_a_body_that_failed_half_read_never_reaches_the_next_call() -> None:
    answers = iter([b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 40, None])

    async def half_then_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = next(answers)
        if answer is None:
            await ok(reader, writer)
            return
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async for url in _serve(half_then_ok):
        async with build_client(httpx.Timeout(2.0)) as client:
            with pytest.raises(ProviderError):
                await upstream.send(client, "p", "POST", url, json={})
            response = await upstream.send(client, "p", "POST", url, json={})
    assert response.json() == {"data": [1]}
