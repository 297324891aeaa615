"""ASGI servers side by side on the generate path: server CPU per request and p99, one worker pinned.

    .venv/bin/pip install granian   # not a project dependency: measured, not used
    .venv/bin/python bench/servers.py --size 100k --duration 10 --repeat 2

Systems (each one worker on `--sut-cpu`, wrk + the mock on `--load-cpu`, auth off, no Redis, so
the figure is the server + app cost of an unsigned 100 KB generation):

    uvicorn-h11-edge   `imagegate serve`: uvicorn's h11 protocol with gateway/edge.py's limits
    uvicorn-httptools  uvicorn --http httptools (no edge limits: the parser's own cost)
    granian            granian --interface asgi, uvloop (when installed)

Interleaved `--repeat` times. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import Child, cpu_seconds, free_port, pinned, wait_http
from bench.targets import ROOT, ours_config, start_mock

BIN = Path(sys.executable).parent
BODY = {"model": "bench-image", "prompt": "a lighthouse", "output_format": "png"}


def start(kind: str, config: Path, cpus: str, work: Path) -> tuple[Child, int]:
    port = free_port()
    env = {"IMAGEGATE_CONFIG": str(config), "IMAGEGATE_LOG_LEVEL": "warning", "REDIS_URL": ""}
    if kind == "uvicorn-h11-edge":
        cmd = [str(BIN / "imagegate"), "serve", "--config", str(config), "--port", str(port), "--workers", "1",
               "--log-level", "warning"]
    elif kind == "uvicorn-httptools":
        cmd = [str(BIN / "uvicorn"), "--factory", "gateway.asgi:create_from_env", "--port", str(port),
               "--http", "httptools", "--loop", "uvloop", "--log-level", "warning", "--no-access-log"]
    else:
        cmd = [str(BIN / "granian"), "--interface", "asgi", "--factory", "gateway.asgi:create_from_env",
               "--port", str(port), "--workers", "1", "--loop", "uvloop", "--log-level", "warning",
               "--no-ws"]
    child = Child.start(kind, pinned(cmd, cpus), work, env)
    wait_http(port, "/healthz", proc=child.proc)
    return child, port


def pids(child: Child) -> int:
    return child.proc.pid


def measure(port: int, pid: int, conns: int, seconds: float, load_cpu: str, work: Path) -> dict[str, float]:
    body, out = work / "body.json", work / "wrk.json"
    body.write_text(json.dumps(BODY))
    env = {**os.environ, "BENCH_PATH": "/api/v1/image/generate", "BENCH_BODY": str(body), "BENCH_OUT": str(out)}
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "-s", str(ROOT / "bench" / "wrk_bench.lua"),
           f"http://127.0.0.1:{port}/api/v1/image/generate"]
    before = cpu_seconds(pid)
    subprocess.run(pinned(cmd, load_cpu), env=env, check=True, stdout=subprocess.DEVNULL)
    figures = json.loads(out.read_text())
    cpu = cpu_seconds(pid) - before
    requests = max(1, int(figures["requests"]))
    errors = int(figures["non2xx"]) + int(figures["timeouts"]) + int(figures["read_errors"])
    return {"rps": float(figures["rps"]), "p50_ms": figures["p50_us"] / 1000, "p99_ms": figures["p99_us"] / 1000,
            "cpu_us": cpu / requests * 1e6, "errors": errors, "load1": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="100k")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--conns", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sut-cpu", default="1")
    parser.add_argument("--load-cpu", default="0")
    args = parser.parse_args()
    kinds = ["uvicorn-h11-edge", "uvicorn-httptools"] + (["granian"] if shutil.which(str(BIN / "granian")) else [])
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="imagegate-servers-") as tmp:
        work = Path(tmp)
        mock, upstream = start_mock(args.size, 0, args.load_cpu, work)
        config = work / "imagegate.yaml"
        config.write_text(ours_config(upstream, False, None))
        try:
            for _ in range(args.repeat):
                for kind in kinds:
                    child, port = start(kind, config, args.sut_cpu, work)
                    try:
                        measure(port, pids(child), 16, 2, args.load_cpu, work)  # warm-up
                        for conns in args.conns:
                            row = measure(port, pids(child), conns, args.duration, args.load_cpu, work)
                            rows.setdefault((kind, conns), []).append(row)
                            print(kind, conns, row, flush=True)
                    finally:
                        child.stop()
        finally:
            mock.stop()
    print("\n| server | conns | req/s | p50 ms | p99 ms | server CPU µs/req (median) | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (kind, conns), found in rows.items():
        med = {k: statistics.median(r[k] for r in found) for k in found[0]}
        print(f"| {kind} | {conns} | {med['rps']:.1f} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} | "
              f"{med['cpu_us']:.0f} | {sum(r['errors'] for r in found):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
