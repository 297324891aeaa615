"""Load-and-soak run (not a test): sustained concurrency against one gateway for a bounded time.

    .venv/bin/python -m bench.soak --duration 60 --concurrency 32 --latency-ms 50

Starts `imagegate serve` on a free loopback port with a routing file whose only provider is the
`mock` adapter (fixed latency, real images), or targets `--url` (with `--pid` for resource
figures). `--redis` also starts a throwaway redis-server (free port, no persistence) as the shared
store; `--signed` turns SIWX auth on and signs every request with a fresh nonce (gateway.client),
so the run includes signature verification and a Redis nonce claim per request. Drives POST /api/v1/image/generate with `--concurrency` workers until `--duration`
seconds have passed, and reports throughput, p50/p90/p99 latency, errors by status/code, and the
gateway's RSS and open-FD count sampled once a second (drift = last sample after warm-up minus the
first one). `--json` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

ROUTE = "/api/v1/image/generate"
ROUTING = """
providers:
  mock: {{adapter: mock, settings: {{latency_ms: {latency}, max_n: 4}}}}
models:
  mock-image:
    deployments: [{{provider: mock, model: mock-v1}}]
auth: {auth}
"""


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss_kib, fds)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _resources(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of a local process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def _start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            client.close()
            return process, url
        except redis.RedisError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)


def _start_gateway(
    latency_ms: float, workdir: Path, *, signed: bool, redis_url: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "routing.yaml"
    auth = "{enabled: true, replay: single_use}" if signed else "{enabled: false}"
    config.write_text(ROUTING.format(latency=latency_ms, auth=auth), encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("IMAGEGATE_CONFIG", "REDIS_URL")}
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = (workdir / "gateway.log").open("wb")
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--config", str(config)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gateway did not start; see {workdir / 'gateway.log'}")


def _signer(url: str) -> Callable[[], dict[str, str]]:
    from gateway.client import EvmSigner, sign_header

    signer = EvmSigner.throwaway()
    return lambda: {"Sign-In-With-X": sign_header(url + ROUTE, signer)}


async def _drive(
    url: str, pid: int | None, duration: float, concurrency: int, size: int, *, signed: bool
) -> Run:
    run = Run()
    headers = _signer(url) if signed else dict
    stop_at = time.monotonic() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker(wid: int) -> None:
            i = 0
            while time.monotonic() < stop_at:
                body = {"model": "mock-image", "prompt": f"soak {wid}-{i}", "width": size, "height": size}
                started = time.monotonic()
                try:
                    response = await client.post(ROUTE, json=body, headers=headers())
                except httpx.HTTPError as exc:
                    run.errors[f"transport:{type(exc).__name__}"] += 1
                    continue
                finally:
                    i += 1
                if response.status_code == 200:
                    run.latencies.append(time.monotonic() - started)
                else:
                    code = response.json().get("error", {}).get("code", "?")
                    run.errors[f"{response.status_code}:{code}"] += 1

        async def sampler() -> None:
            started = time.monotonic()
            while pid is not None and time.monotonic() < stop_at:
                run.samples.append((time.monotonic() - started, *_resources(pid)))
                await asyncio.sleep(1.0)

        await asyncio.gather(sampler(), *(worker(w) for w in range(concurrency)))
    return run


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summarise(run: Run, duration: float, warmup: float) -> dict[str, object]:
    ok = len(run.latencies)
    figures: dict[str, object] = {
        "duration_s": duration,
        "ok": ok,
        "errors": dict(run.errors),
        "throughput_rps": round(ok / duration, 1),
        "p50_ms": round(_percentile(run.latencies, 0.50) * 1000, 1),
        "p90_ms": round(_percentile(run.latencies, 0.90) * 1000, 1),
        "p99_ms": round(_percentile(run.latencies, 0.99) * 1000, 1),
    }
    steady = [s for s in run.samples if s[0] >= warmup] or run.samples
    if steady:
        first, last = steady[0], steady[-1]
        figures.update(
            rss_mib_start=round(first[1] / 1024, 1),
            rss_mib_end=round(last[1] / 1024, 1),
            rss_drift_pct=round(100 * (last[1] - first[1]) / max(first[1], 1), 1),
            fds_start=first[2],
            fds_end=last[2],
            fds_max=max(s[2] for s in steady),
        )
    return figures


def _run(args: argparse.Namespace) -> Run:
    processes: list[subprocess.Popen[bytes]] = []
    url, pid = args.url, args.pid
    with tempfile.TemporaryDirectory(prefix="ig-soak-") as workdir:
        try:
            redis_url = None
            if args.redis and url is None:
                redis, redis_url = _start_redis(Path(workdir))
                processes.append(redis)
            if url is None:
                gateway, url = _start_gateway(
                    args.latency_ms, Path(workdir), signed=args.signed, redis_url=redis_url
                )
                processes.append(gateway)
                pid = gateway.pid
            return asyncio.run(
                _drive(url, pid, args.duration, args.concurrency, args.size, signed=args.signed)
            )
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.soak", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="mock provider latency (default 50)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the drift baseline")
    parser.add_argument("--url", help="target a running gateway instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the gateway's pid, for RSS / FD figures")
    parser.add_argument("--redis", action="store_true", help="start a throwaway redis-server as the store")
    parser.add_argument("--signed", action="store_true", help="SIWX auth on; sign every request")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    run = _run(args)
    figures = summarise(run, args.duration, args.warmup)
    out = sys.stdout
    if args.json:
        out.write(json.dumps(figures) + "\n")
    else:
        for key, value in figures.items():
            out.write(f"{key:>16}: {value}\n")
    return 0 if not run.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
