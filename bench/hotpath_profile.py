"""Profile imagegate's hot path with py-spy under wrk load, and summarise where the CPU goes.

    .venv/bin/python bench/hotpath_profile.py --size 100k --conns 16 --seconds 15
    .venv/bin/python bench/hotpath_profile.py --summarise bench/results/profile-100k-c16.txt

Starts the same mock upstream, Redis and imagegate (SIWX on) as bench/run.py, records py-spy's
raw (collapsed) stacks while wrk drives signed requests, writes them under bench/results/ and
prints the top functions by self time and by inclusive time. Needs py-spy (bench/run.sh installs
it) and ptrace rights (root, or kernel.yama.ptrace_scope=0). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.envelopes import signer_or_none
from bench.run import Session, parse_args, start_redis
from bench.targets import ROOT, start_mock, start_ours


def summarise(raw: Path, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "self:"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top + 20)]
    return "\n".join(lines)


def record(size: str, conns: int, seconds: float, out: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    bench_args = parse_args(["--duration", str(seconds)])
    with tempfile.TemporaryDirectory(prefix="imagegate-profile-") as tmp:
        work = Path(tmp)
        redis, redis_url = start_redis(work, bench_args.load_cpu)
        mock, port = start_mock(size, 0, bench_args.load_cpu, work)
        signer = signer_or_none()
        ours = start_ours(port, bench_args.sut_cpu, work, auth=signer is not None, redis_url=redis_url)
        assert ours.child is not None
        try:
            session = Session(bench_args, work, signer, redis_url)
            session.wrk(ours, conns, 2, label="warm-up", keep=False)
            spy = subprocess.Popen([py_spy, "record", "-p", str(ours.child.proc.pid), "-d", str(int(seconds) + 1),
                                    "-r", "250", "-f", "raw", "-o", str(out), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            session.wrk(ours, conns, seconds, label=f"profile {size} c{conns}")
            spy.wait(timeout=120)
        finally:
            ours.child.stop()
            mock.stop()
            redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="py-spy profile of imagegate under load")
    parser.add_argument("--size", default="100k")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--summarise", type=Path, help="only summarise an existing raw profile")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(args.summarise))
        return
    out = ROOT / "bench" / "results" / f"profile-{args.size}-c{args.conns}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    record(args.size, args.conns, args.seconds, out)
    print(summarise(out))
    print(f"raw stacks: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
