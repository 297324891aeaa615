"""Side-by-side benchmark: direct-to-mock vs imagegate vs LiteLLM proxy, one session, same pinning.

    bash bench/run.sh                 # short default: 10 s per measurement, 60 s RSS run
    bash bench/run.sh --duration 20 --rss-duration 300 --repeat 3

Layout: the system under test (imagegate or LiteLLM, one worker each) is pinned to CPU 1; the mock
upstream, Redis and wrk share CPU 0 (`--sut-cpu`/`--load-cpu` change that). Each measurement is
preceded by a discarded warm-up. Prints one Markdown table plus the target ratios and writes both,
with the raw figures, to bench/results/. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.envelopes import EnvelopeSigner, signer_or_none
from bench.procs import Child, RssSampler, cpu_seconds, free_port, loaded, pinned
from bench.targets import ROOT, Target, direct, start_litellm, start_mock, start_ours

LUA = ROOT / "bench" / "wrk_bench.lua"
SEGMENT_SECONDS = 60.0
SLOW_MIN_SECONDS = 30.0


@dataclass
class Session:
    args: argparse.Namespace
    work: Path
    signer: EnvelopeSigner | None
    redis_url: str | None
    results: list[dict[str, object]] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)

    def wrk(self, target: Target, conns: int, seconds: float, *, label: str, keep: bool = True) -> dict[str, object]:
        """wrk against `target`; signed runs longer than SEGMENT_SECONDS go in segments, each with
        freshly signed envelopes (so a 5-minute run never holds half a million of them)."""
        if not target.signed or seconds <= SEGMENT_SECONDS:
            return self._wrk_once(target, conns, seconds, label=label, keep=keep)
        parts = []
        left = seconds
        while left > 0:
            parts.append(self._wrk_once(target, conns, min(SEGMENT_SECONDS, left), label=label, keep=False))
            left -= SEGMENT_SECONDS
        figures = report.combine(parts)
        if keep:
            self.results.append(figures)
            print(report.line(figures), flush=True)
        return figures

    def _wrk_once(self, target: Target, conns: int, seconds: float, *, label: str, keep: bool) -> dict[str, object]:
        """One wrk run against `target`; pre-signs enough single-use envelopes first."""
        body, out = self.work / "body.json", self.work / "wrk-out.json"
        body.write_bytes(target.body)
        env = {"BENCH_PATH": target.path, "BENCH_BODY": str(body), "BENCH_OUT": str(out)}
        if target.signed and self.signer is not None:
            values = self.work / "envelopes.txt"
            needed = self.signer.budget(conns, seconds)
            values.write_text("\n".join(self.signer.sign(needed)) + "\n")
            env |= {"BENCH_HEADER": "Sign-In-With-X", "BENCH_VALUES": str(values)}
        if target.static_header:
            env["BENCH_STATIC"] = target.static_header
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(LUA)]
        cmd.append(f"http://127.0.0.1:{target.port}{target.path}")
        load_before = os.getloadavg()[0]
        cpu_before = cpu_seconds(target.pid) if target.pid else 0.0
        subprocess.run(pinned(cmd, self.args.load_cpu), env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
        figures: dict[str, object] = json.loads(out.read_text())
        cpu = cpu_seconds(target.pid) - cpu_before if target.pid else 0.0
        figures["cpu_us_per_request"] = cpu / max(1, int(figures["requests"])) * 1e6  # type: ignore[call-overload]
        figures |= {"scenario": label, "system": target.name, "conns": conns, "load1": load_before}
        if keep:
            self.results.append(figures)
            print(report.line(figures), flush=True)
        if target.signed and self.signer is not None:
            self.signer.observe(conns, float(figures["rps"]))  # type: ignore[arg-type]
        return figures

    def measure(self, target: Target, conns: int, label: str) -> dict[str, object]:
        self.wrk(target, conns, self.args.warmup, label=label, keep=False)
        return self.wrk(target, conns, self.args.duration, label=label)


def run_size(session: Session, size: str, litellm: str | None) -> None:
    """100k or 2m at 0 ms latency: c=1 (overhead) and c=16 (throughput) for each system."""
    args = session.args
    mock, port = start_mock(size, 0, args.load_cpu, session.work)
    try:
        systems: list[Target] = [direct(port, mock)]
        ours = start_ours(port, args.sut_cpu, session.work, auth=session.signer is not None,
                          redis_url=session.redis_url)
        systems.append(ours)
        assert ours.child is not None
        session.extras["imagegate native modules"] = loaded(ours.child.proc.pid, "uvloop/loop", "httptools/parser")
        lite = start_litellm(litellm, port, args.sut_cpu, session.work) if litellm else None
        try:
            # The key figure (overhead at 1 connection) is interleaved direct/ours, `repeat` times.
            for _ in range(args.repeat):
                session.measure(systems[0], 1, f"{size} c1")
                session.measure(ours, 1, f"{size} c1")
            if lite is not None:
                session.measure(lite, 1, f"{size} c1")
            # The 16-connection figures (the CPU ratio) are interleaved too, `repeat` times; the
            # report takes medians (one run on this shared machine moves by +-15 %).
            session.measure(systems[0], 16, f"{size} c16")
            for _ in range(args.repeat):
                for target in [ours, *([lite] if lite else [])]:
                    session.measure(target, 16, f"{size} c16")
        finally:
            for t in (ours, lite):
                if t is not None and t.child is not None:
                    t.child.stop()
        if args.workers > 1:
            run_workers(session, size, port, litellm)
    finally:
        mock.stop()


def run_workers(session: Session, size: str, port: int, litellm: str | None) -> None:
    """The whole machine: `--workers N` processes, not pinned, 16 connections per worker; the
    server CPU per request sums every worker (procs.cpu_seconds walks the process tree)."""
    args = session.args
    conns, label = 16 * args.workers, f"{size} c{16 * args.workers} {args.workers} workers"
    ours = start_ours(port, None, session.work, auth=session.signer is not None,
                      redis_url=session.redis_url, workers=args.workers)
    try:
        session.measure(ours, conns, label)
    finally:
        assert ours.child is not None
        ours.child.stop()
    if litellm:
        lite = start_litellm(litellm, port, None, session.work, workers=args.workers)
        try:
            session.measure(lite, conns, label)
        finally:
            assert lite.child is not None
            lite.child.stop()


def run_slow(session: Session) -> None:
    """Slow upstream: 1 s latency, 64 connections, 100 KB; ours vs direct."""
    args = session.args
    mock, port = start_mock("100k", 1000, args.load_cpu, session.work)
    try:
        ours = start_ours(port, args.sut_cpu, session.work, auth=session.signer is not None,
                          redis_url=session.redis_url)
        try:
            # At 1 s per request a short window counts whole requests per connection (10 s: nine
            # or ten), so a few ms of queueing would swing the ratio by 10%: measure for >= 30 s.
            # "Within 5 % in every run": `repeat` interleaved direct/ours pairs, each judged.
            seconds = max(args.duration, SLOW_MIN_SECONDS)
            for _ in range(args.repeat):
                for target in (direct(port, mock), ours):
                    session.wrk(target, 64, args.warmup, label="100k 1s-latency c64", keep=False)
                    session.wrk(target, 64, seconds, label="100k 1s-latency c64")
        finally:
            assert ours.child is not None
            ours.child.stop()
    finally:
        mock.stop()


def run_rss(session: Session) -> dict[str, object]:
    """RSS of our process over a long run at 16 connections, 100 KB images."""
    args = session.args
    mock, port = start_mock("100k", 0, args.load_cpu, session.work)
    try:
        ours = start_ours(port, args.sut_cpu, session.work, auth=session.signer is not None,
                          redis_url=session.redis_url)
        assert ours.child is not None
        try:
            session.wrk(ours, 16, args.warmup, label="rss warm-up", keep=False)
            with RssSampler(ours.child.proc.pid) as sampler:
                figures = session.wrk(ours, 16, args.rss_duration, label=f"100k c16 {args.rss_duration:.0f}s RSS")
            return report.rss_summary(sampler.samples, figures)
        finally:
            ours.child.stop()
    finally:
        mock.stop()


def start_redis(work: Path, cpus: str | None) -> tuple[Child, str]:
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    child = Child.start("redis", pinned(cmd, cpus), work)
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
            return child, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def machine() -> dict[str, object]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "load1_start": os.getloadavg()[0]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="direct vs imagegate vs LiteLLM on a mock OpenAI upstream")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded warm-up seconds (default 2)")
    parser.add_argument("--rss-duration", type=float, default=60.0,
                        help="seconds of the RSS run (default 60; the target is 300)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the 1-connection overhead pair, of the 16-connection "
                        "rows and of the slow-upstream pair")
    parser.add_argument("--sut-cpu", default="1", help="CPU list for the system under test (taskset)")
    parser.add_argument("--load-cpu", default="0", help="CPU list for wrk, the mock and Redis")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM (no install)")
    parser.add_argument("--no-auth", action="store_true", help="run imagegate with auth disabled")
    parser.add_argument("--only", choices=["100k", "2m", "slow", "rss"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--litellm", help="path to an installed litellm executable")
    parser.add_argument("--workers", type=int, default=0,
                        help="also measure N worker processes each, not pinned (the whole machine)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is required (bench/run.sh installs it: apt-get install -y wrk)", file=sys.stderr)
        return 2
    parts = args.only or ["100k", "2m", "slow", "rss"]
    litellm = None if args.no_litellm or not {"100k", "2m"} & set(parts) else args.litellm
    if litellm is None and not args.no_litellm and {"100k", "2m"} & set(parts):
        litellm = subprocess.run(["bash", str(ROOT / "bench" / "litellm.sh")], check=True,
                                 capture_output=True, text=True).stdout.strip()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as tmp:
        work = Path(tmp)
        redis, redis_url = start_redis(work, args.load_cpu)
        signer = None if args.no_auth else signer_or_none()
        info["auth"] = "SIWX on (EVM + Solana envelopes, single-use nonces, Redis)" if signer else "auth disabled"
        print(f"machine: {info}", flush=True)
        session = Session(args, work, signer, redis_url)
        rss: dict[str, object] | None = None
        try:
            for part in parts:
                if part in ("100k", "2m"):
                    run_size(session, part, litellm)
                elif part == "slow":
                    run_slow(session)
                else:
                    rss = run_rss(session)
        finally:
            redis.stop()
    info["load1_end"] = os.getloadavg()[0]
    info |= session.extras
    info["litellm"] = report.litellm_version(litellm)
    text = report.render(session.results, rss, info, args)
    print(text)
    report.save(ROOT / "bench" / "results", text, session.results, rss, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
