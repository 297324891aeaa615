"""Helpers for the deployment tests: repo paths, a gateway in a subprocess, doc code blocks, PromQL names."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def settings_env_names() -> set[str]:
    """The environment variables Settings.from_env reads (from its source, so it tracks changes)."""
    return set(re.findall(r"os\.environ\.get\(\"([A-Z_]+)\"", inspect.getsource(Settings.from_env)))


def wait_http_ok(
    url: str, *, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> httpx.Response:
    """Poll `url` until it answers 200 (or the process dies, or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s (last: {last!r})")


@dataclass
class Proc:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def background(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Proc]:
    """Run `argv` in the background (own process group), stop it on exit; stderr+stdout to a log file."""
    log = tempfile.NamedTemporaryFile(prefix="ig-deploy-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        list(argv), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc = Proc(process, Path(log.name))
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


def exported_metric_names(exposition: str) -> set[str]:
    """Every series name a /metrics text can carry, from its families (HELP/TYPE lines count, so a
    labelled family with no child yet still names its _total / _bucket / _sum / _count series)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.update({f"{family.name}_total", f"{family.name}_created"})
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count", "_created"))
        elif family.type == "summary":
            names.update({family.name, f"{family.name}_sum", f"{family.name}_count"})
        else:
            names.add(family.name)
    return names


_PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan", "le"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, aggregations,
    keywords, label names (inside {...} or by/without/on/ignoring/group_left(...)), strings or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # range / subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # dashboard variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text):
        token = match.group(1)
        if token.lower() not in _PROMQL_KEYWORDS:
            names.add(token)
    return names


@dataclass(frozen=True)
class DocBlock:
    path: Path
    line: int
    language: str
    text: str
    marker: str  # the paragraph or comment right before the fence


def doc_blocks(path: Path) -> list[DocBlock]:
    """Fenced code blocks of a Markdown file, each with the paragraph just above its fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[DocBlock] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        k = start
        while k > 0 and not lines[k - 1].strip():
            k -= 1
        top = k
        while top > 0 and lines[top - 1].strip():
            top -= 1
        above = "\n".join(lines[top:k])  # the paragraph (or comment) right above the fence
        blocks.append(DocBlock(path, start + 1, fence.group(2), "\n".join(lines[start + 1 : j]), above))
        i = j + 1
    return blocks


def runner_of(block: DocBlock) -> str | None:
    match = re.search(r"<!--\s*tested-by:\s*(\S+)\s*-->", block.marker)
    return match.group(1) if match else None


def doc_command(path: Path, test_name: str, *, contains: str = "") -> str:
    """The one shell block of `path` (containing `contains`) that names `test_name` as its runner."""
    found = [
        b for b in doc_blocks(path) if (runner_of(b) or "").endswith(f"::{test_name}") and contains in b.text
    ]
    assert len(found) == 1, f"{path.name}: expected one block run by {test_name}, found {len(found)}"
    return found[0].text.strip()
