"""Upstream HTTP client shoot-out: httpx's own pool vs the `httpx-aiohttp` transport vs aiohttp alone.

    python bench/http_clients.py --size 100k --concurrency 16 64 128 --requests 3000

Starts the mock upstream (on `--load-cpu`), then in this process (pinned to `--sut-cpu`, uvloop)
fires `--requests` POSTs at each concurrency through each client and prints req/s and the CPU
seconds this process spent per request (the figure that matters for a gateway worker). Each
response body is read fully (`response.content`), as the adapters do. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.targets import OPENAI_BODY, start_mock


def clients() -> dict[str, Callable[[], httpx.AsyncClient]]:
    timeout = httpx.Timeout(30.0, connect=5.0)
    made: dict[str, Callable[[], httpx.AsyncClient]] = {
        "httpx default pool": lambda: httpx.AsyncClient(timeout=timeout),
        "httpx pool 1000/1000": lambda: httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        ),
    }
    try:
        from httpx_aiohttp import AiohttpTransport

        made["httpx + aiohttp transport"] = lambda: httpx.AsyncClient(
            timeout=timeout,
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000)),
        )
    except ImportError:
        print("httpx-aiohttp not installed: skipping its transport", file=sys.stderr)
    return made


async def drive(make: Callable[[], httpx.AsyncClient], url: str, concurrency: int, total: int) -> tuple[float, float]:
    async with make() as client:

        async def post() -> bytes:
            response = await client.post(url, json=OPENAI_BODY)
            assert response.status_code == 200
            return response.content

        return await _timed(post, concurrency, total)


async def drive_aiohttp(url: str, concurrency: int, total: int) -> tuple[float, float]:
    """aiohttp alone (no httpx API on top): what a direct aiohttp upstream call would cost."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def post() -> bytes:
            async with session.post(url, json=OPENAI_BODY) as response:
                assert response.status == 200
                return await response.read()

        return await _timed(post, concurrency, total)


async def drive_ours(url: str, concurrency: int, total: int) -> tuple[float, float]:
    """What the adapters call: `upstream.send` on `build_client` (aiohttp directly since issue 21)."""
    from gateway import upstream
    from gateway.http_client import build_client

    async with build_client(httpx.Timeout(30.0, connect=5.0)) as client:

        async def post() -> bytes:
            response = await upstream.send(client, "bench", "POST", url, json=OPENAI_BODY)
            assert response.status_code == 200
            return response.content

        return await _timed(post, concurrency, total)


async def _timed(post: Callable[[], Awaitable[bytes]], concurrency: int, total: int) -> tuple[float, float]:
    for _ in range(concurrency):  # warm the pool
        await post()
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            assert len(await post()) > 1000

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - wall), (time.process_time() - cpu) / total


def main() -> None:
    parser = argparse.ArgumentParser(description="httpx pool vs httpx-aiohttp transport")
    parser.add_argument("--size", default="100k")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--sut-cpu", default="1")
    parser.add_argument("--load-cpu", default="0")
    args = parser.parse_args()
    if args.sut_cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in args.sut_cpu.split(",")})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        mock, port = start_mock(args.size, args.latency_ms, args.load_cpu, Path(tmp))
        try:
            url = f"http://127.0.0.1:{port}/v1/images/generations"
            print("| client | concurrency | req/s | CPU µs per request |\n|---|---:|---:|---:|")
            for concurrency in args.concurrency:
                for name, make in clients().items():
                    rps, cpu = asyncio.run(drive(make, url, concurrency, args.requests))
                    print(f"| {name} | {concurrency} | {rps:.0f} | {cpu * 1e6:.0f} |", flush=True)
                rps, cpu = asyncio.run(drive_aiohttp(url, concurrency, args.requests))
                print(f"| aiohttp directly | {concurrency} | {rps:.0f} | {cpu * 1e6:.0f} |", flush=True)
                rps, cpu = asyncio.run(drive_ours(url, concurrency, args.requests))
                print(f"| upstream.send on build_client (ours) | {concurrency} | {rps:.0f} | {cpu * 1e6:.0f} |",
                      flush=True)
        finally:
            mock.stop()


if __name__ == "__main__":
    main()
