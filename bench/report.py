"""The benchmark's table and target ratios (Markdown), and where results are saved."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

Row = dict[str, object]


def _ms(us: object) -> str:
    return f"{float(us) / 1000:.2f}"  # type: ignore[arg-type]


def _cpu(row: Row) -> str:
    return f"{float(row.get('cpu_us_per_request', 0.0)):.0f}"  # type: ignore[arg-type]


def _errors(row: Row) -> int:
    keys = ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
    return sum(int(row[k]) for k in keys)  # type: ignore[call-overload]


def line(row: Row) -> str:
    return (
        f"  {row['scenario']:<22} {row['system']:<8} c={row['conns']:<3} p50={_ms(row['p50_us'])} ms "
        f"p99={_ms(row['p99_us'])} ms {float(row['rps']):.1f} req/s cpu={_cpu(row)} µs/req errors={_errors(row)} "  # type: ignore[arg-type]
        f"load1={float(row['load1']):.2f}"  # type: ignore[arg-type]
    )


def _pick(rows: list[Row], scenario: str, system: str) -> list[Row]:
    return [r for r in rows if r["scenario"] == scenario and r["system"] == system]


def _median(rows: list[Row], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)  # type: ignore[arg-type]


def table(rows: list[Row]) -> str:
    out = [
        "| scenario | system | conns | p50 ms | p99 ms | req/s | server CPU µs/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['scenario']} | {r['system']} | {r['conns']} | {_ms(r['p50_us'])} | {_ms(r['p99_us'])} "
            f"| {float(r['rps']):.1f} | {_cpu(r)} | {_errors(r)} |"  # type: ignore[arg-type]
        )
    return "\n".join(out)


def _verdict(ok: bool, *rows: list[Row]) -> str:
    if any(_errors(r) for group in rows for r in group):
        return "INVALID (a row has errors: see the table)"
    return "MET" if ok else "NOT MET"


def ratios(rows: list[Row], rss: Row | None) -> list[str]:
    out: list[str] = []
    for size in ("100k", "2m"):
        d, o = _pick(rows, f"{size} c1", "direct"), _pick(rows, f"{size} c1", "ours")
        if d and o:
            pairs = [(float(b["p50_us"]) - float(a["p50_us"]), float(b["p99_us"]) - float(a["p99_us"]))  # type: ignore[arg-type]
                     for a, b in zip(d, o, strict=False)]
            p50 = statistics.median(p[0] for p in pairs) / 1000
            p99 = statistics.median(p[1] for p in pairs) / 1000
            each = ", ".join(f"{a / 1000:.2f}/{b / 1000:.2f}" for a, b in pairs)
            target = f" — target p50 < 1 ms, p99 < 3 ms: {_verdict(p50 < 1 and p99 < 3, d, o)}" if size == "100k" else ""
            out.append(f"- overhead {size}, 1 connection (ours − direct, median of {len(pairs)} interleaved "
                       f"pairs): p50 {p50:.2f} ms, p99 {p99:.2f} ms [each pair p50/p99: {each}]{target}")
        lite, ours = _pick(rows, f"{size} c1", "litellm"), o
        if lite and ours and d:
            out.append(f"- LiteLLM overhead {size}, 1 connection: p50 {(_median(lite, 'p50_us') - _median(d, 'p50_us')) / 1000:.2f} ms, "
                       f"p99 {(_median(lite, 'p99_us') - _median(d, 'p99_us')) / 1000:.2f} ms")
        lite16, ours16 = _pick(rows, f"{size} c16", "litellm"), _pick(rows, f"{size} c16", "ours")
        if lite16 and ours16:
            ratio = _median(ours16, "rps") / _median(lite16, "rps")
            out.append(f"- throughput {size}, 16 connections, ours / LiteLLM: {ratio:.1f}x — target >= 5x: "
                       f"{_verdict(ratio >= 5, lite16, ours16)}")
            cpu_ratio = _median(lite16, "cpu_us_per_request") / max(1.0, _median(ours16, "cpu_us_per_request"))
            each = ", ".join(f"{float(r['cpu_us_per_request']):.0f}" for r in ours16)  # type: ignore[arg-type]
            out.append(f"  - server CPU per request at 16 connections (medians of {len(ours16)} / {len(lite16)} runs): "
                       f"ours {_median(ours16, 'cpu_us_per_request'):.0f} µs [each: {each}], LiteLLM "
                       f"{_median(lite16, 'cpu_us_per_request'):.0f} µs -> {cpu_ratio:.1f}x fewer — target >= 5x: "
                       f"{_verdict(cpu_ratio >= 5, lite16, ours16)}")
    for label in sorted({str(r["scenario"]) for r in rows if str(r["scenario"]).endswith(" workers")}):
        lw, ow = _pick(rows, label, "litellm"), _pick(rows, label, "ours")
        if ow:
            line = f"- {label} (whole machine, not pinned): ours {_median(ow, 'rps'):.1f} req/s, " \
                   f"{_median(ow, 'cpu_us_per_request'):.0f} µs CPU/request (all workers)"
            if lw:
                line += f"; LiteLLM {_median(lw, 'rps'):.1f} req/s, {_median(lw, 'cpu_us_per_request'):.0f} µs " \
                        f"-> {_median(ow, 'rps') / _median(lw, 'rps'):.1f}x req/s, " \
                        f"{_median(lw, 'cpu_us_per_request') / max(1.0, _median(ow, 'cpu_us_per_request')):.1f}x per CPU"
            out.append(line)
    sd, so = _pick(rows, "100k 1s-latency c64", "direct"), _pick(rows, "100k 1s-latency c64", "ours")
    if sd and so:
        each_ratio = [float(b["rps"]) / float(a["rps"]) for a, b in zip(sd, so, strict=False)]  # type: ignore[arg-type]
        listed = ", ".join(f"{r:.3f}" for r in each_ratio)
        out.append(f"- slow upstream (1 s, 64 connections), ours / direct throughput in each of {len(each_ratio)} "
                   f"interleaved runs: {listed} — target >= 0.95 in every run: "
                   f"{_verdict(min(each_ratio) >= 0.95, sd, so)}")
    if rss is not None:
        out.append(f"- RSS over {rss['seconds']:.0f} s at 16 connections ({rss['requests']} requests): "  # type: ignore[str-format]
                   f"start {rss['start_mib']:.1f} MiB, end {rss['end_mib']:.1f} MiB, min {rss['min_mib']:.1f}, "
                   f"max {rss['max_mib']:.1f}; max deviation from the median {rss['spread_pct']:.1f}% — "
                   f"target ±10%: {_verdict(float(rss['spread_pct']) <= 10)}")  # type: ignore[arg-type]
    return out


def combine(parts: list[Row]) -> Row:
    """One row for a run made of segments: totals for counts and rates; p50 = median of the
    segments' p50s, p99 = the worst segment's p99 (an upper bound, not an exact percentile)."""
    seconds = sum(float(p["seconds"]) for p in parts)  # type: ignore[arg-type]
    requests = sum(int(p["requests"]) for p in parts)  # type: ignore[call-overload]
    row: Row = dict(parts[0])
    row |= {"seconds": seconds, "requests": requests, "rps": requests / seconds, "segments": len(parts),
            "p50_us": statistics.median(float(p["p50_us"]) for p in parts),  # type: ignore[arg-type]
            "p99_us": max(float(p["p99_us"]) for p in parts),  # type: ignore[arg-type]
            "cpu_us_per_request": sum(float(p["cpu_us_per_request"]) * int(p["requests"]) for p in parts)  # type: ignore[arg-type, call-overload]
            / max(1, requests)}
    for key in ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts", "bytes"):
        row[key] = sum(int(p[key]) for p in parts)  # type: ignore[call-overload]
    return row


def rss_summary(samples: list[tuple[float, int]], figures: Row) -> Row:
    values = [kib / 1024 for _, kib in samples if kib > 0]
    median = statistics.median(values)
    spread = max(abs(v - median) for v in values) / median * 100
    return {"seconds": samples[-1][0], "requests": figures["requests"], "start_mib": values[0],
            "end_mib": values[-1], "min_mib": min(values), "max_mib": max(values), "median_mib": median,
            "spread_pct": spread, "samples": samples}


def litellm_version(executable: str | None) -> str | None:
    if executable is None:
        return None
    python = str(Path(executable).parent / "python")
    done = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                          capture_output=True, text=True)
    return done.stdout.strip() or None


def render(rows: list[Row], rss: Row | None, info: Row, args: argparse.Namespace) -> str:
    head = (f"machine: nproc={info['nproc']}, {info['cpu']}, Python {info['python']}, kernel {info['kernel']}; "
            f"load average {float(info['load1_start']):.2f} -> {float(info['load1_end']):.2f}\n"  # type: ignore[arg-type]
            f"imagegate: {info['auth']}; LiteLLM: {info.get('litellm') or 'not run'}; "
            f"imagegate worker maps {info.get('imagegate native modules', 'n/a')}\n"
            f"pinning: system under test on CPU {args.sut_cpu}, wrk + mock + Redis on CPU {args.load_cpu}; "
            f"{args.duration:.0f} s per measurement after {args.warmup:.0f} s warm-up\n")
    return head + "\n" + table(rows) + "\n\n" + "\n".join(ratios(rows, rss)) + "\n"


def save(folder: Path, text: str, rows: list[Row], rss: Row | None, info: Row) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (folder / f"{stamp}.md").write_text(text)
    (folder / f"{stamp}.json").write_text(json.dumps({"machine": info, "rows": rows, "rss": rss}, indent=1))
    print(f"saved bench/results/{stamp}.md and .json")
