"""The aiohttp-backed provider client keeps httpx's API and says precisely when a request was sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from gateway.http_client import build_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")),
        0,
    )
    await reader.readexactly(length)


async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/v1/images/generations"


async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            await _read_request(reader)
        except asyncio.IncompleteReadError:
            break
        body = b'{"data": [1]}'
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    writer.close()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.close()  # request received, no answer


async def half_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 5000)
    await writer.drain()
    writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(5)
    writer.close()


async def test_round_trips_json_and_reuses_the_connection() -> None:
    async for url in _serve(ok):
        async with build_client(httpx.Timeout(5.0)) as client:
            for _ in range(3):
                response = await client.post(url, json={"prompt": "a cat"})
                assert response.status_code == 200 and response.json() == {"data": [1]}


async def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        async with build_client(httpx.Timeout(5.0)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"http://127.0.0.1:{port}/", json={})


@pytest.mark.parametrize(
    ("handler", "expected"),
    [(hang_up, httpx.ReadError), (half_body, httpx.ReadError), (silent, httpx.ReadTimeout)],
)
async def test_failures_after_sending_are_never_connect_errors(
    handler: Handler, expected: type[Exception]
) -> None:
    async for url in _serve(handler):
        async with build_client(httpx.Timeout(0.5, connect=5.0)) as client:
            with pytest.raises(httpx.TransportError) as caught:
                await client.post(url, json={"prompt": "a cat"})
    assert isinstance(caught.value, expected)
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)



async def test_credentials_in_the_url_become_basic_auth_once() -> None:
    heads: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head.lower())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async for url in _serve(record):
        async with build_client(httpx.Timeout(5.0)) as client:
            response = await client.get(url.replace("http://", "http://relay:pw@"))
    assert response.status_code == 200
    assert heads[0].count(b"authorization: basic cmvsyxk6chc=") == 1
