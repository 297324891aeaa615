"""Docs that run: every shell, Python and JavaScript block of README.md and docs/*.md is executed
against a live gateway (the bundled routing, authentication on, on a free port that replaces 8000 in
the text), from a scratch directory that sees the checkout's files (outputs stay out of the tree).
Blocks that cannot run here are marked `<!-- not-run: reason -->` and reported with the reason; the
placeholder operator key `"igk_..."` is replaced by one the test gateway knows.
The summary line says how many ran: `doc snippets: N run, 0 failed, ...`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import yaml

from gateway.app import create_app
from gateway.auth.api_keys import digest
from gateway.config import load_config
from gateway.config.auth import ApiKeyConfig
from gateway.settings import Settings
from tests.docs.snippets import ROOT, Snippet, pages, shell_script, snippets
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

TIMEOUT_S = 90
NODE_MODULES = ROOT / "tests/node/node_modules"
# The operator key the docs' OpenAI examples read from IMAGEGATE_API_KEY (docs/openai-compatibility.md).
API_KEY = "igk_docs-snippet-test-key"
# A JSON error answer printed by a snippet (curl exits 0 on an HTTP error unless told otherwise).
ERROR_BODY = re.compile(r'"error"\s*:\s*\{\s*"(code|message)"')


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, int]]:
    """The bundled routing (what a reader runs), plus one operator API key."""
    port = free_port()
    config = load_config()
    keys = [ApiKeyConfig(name="docs", sha256=digest(API_KEY))]
    config = msgspec.structs.replace(config, auth=msgspec.structs.replace(config.auth, api_keys=keys))
    app = create_app(Settings(port=port), config=config)
    with live_server(app, port) as url:
        yield url, port


def workspace(tmp: Path) -> Path:
    """A scratch directory with the checkout's top-level entries linked in: relative paths in the
    docs resolve, and whatever a snippet writes at the top (out/, out.png) lands here."""
    work = tmp / "work"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".git", "out"}:
            (work / entry.name).symlink_to(entry)
    if NODE_MODULES.is_dir():
        (work / "node_modules").symlink_to(NODE_MODULES)
    return work


def environment(url: str, port: int, home: Path) -> dict[str, str]:
    """A reader's shell: the venv is not activated (the docs say .venv/bin/...), no test settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "REDIS_URL"} and not k.startswith("IMAGEGATE_")}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if p and p != venv_bin)
    env.update({"IMAGEGATE_URL": url, "IMAGEGATE_PORT": str(port), "HOME": str(home), "NO_COLOR": "1"})
    env["IMAGEGATE_API_KEY"] = API_KEY
    return env


def run(argv: list[str], work: Path, env: dict[str, str]) -> tuple[int | None, str, str]:
    """(exit code or None on timeout, stdout, stderr). The snippet's whole process group is ended
    afterwards, so a `serve &` in a snippet never outlives it."""
    process = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        code = None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    if code is None:
        out, err = process.communicate()
    return code, out, err


def command_for(snippet: Snippet, work: Path, port: int) -> list[str] | str:
    """argv to run the snippet, or the reason it cannot run on this machine."""
    text = snippet.text.replace(":8000", f":{port}")
    for placeholder in ('"igk_..."', '"igk_…"'):  # the docs' placeholder operator key
        text = text.replace(placeholder, f'"{API_KEY}"')
    name = f"snippet-{snippet.page.stem}-{snippet.line}"
    if snippet.kind == "shell":
        path = work / f"{name}.sh"
        path.write_text("set -euo pipefail\n" + shell_script(text))
        return ["bash", str(path)]
    if snippet.kind == "python":
        path = work / f"{name}.py"
        path.write_text(text)
        return [sys.executable, str(path)]
    node = shutil.which("node")
    if node is None:
        return "Node.js is not installed"
    if not NODE_MODULES.is_dir():
        return "tests/node is not installed (npm ci --prefix tests/node)"
    path = work / f"{name}.{'mts' if snippet.kind == 'typescript' else 'mjs'}"
    path.write_text(text)
    if snippet.kind == "typescript":
        major = int(subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout[1:].split(".")[0])
        if major < 22:
            return f"TypeScript needs Node >= 22 (type stripping); this is Node {major}"
        return [node, "--experimental-strip-types", str(path)]
    return [node, "--import", str(ROOT / "tests/node/extensionless.mjs"), str(path)]


def check_parsed(snippet: Snippet) -> None:
    if snippet.language.lower() == "json":
        json.loads(snippet.text)
    else:
        yaml.safe_load(snippet.text)


def test_every_doc_snippet_runs(gateway: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, port = gateway
    work = workspace(tmp_path)
    env = environment(url, port, tmp_path)
    ran, failed, skipped, delegated, parsed = [], [], [], [], 0
    for page in pages():
        for snippet in snippets(page):
            if snippet.kind in ("parsed", "other"):
                if snippet.kind == "parsed" and snippet.mark is None:
                    try:
                        check_parsed(snippet)
                    except (yaml.YAMLError, ValueError) as exc:
                        failed.append(f"{snippet.where}: does not parse: {exc}")
                    parsed += 1
                continue
            if snippet.mark is not None:
                what, why = snippet.mark
                (skipped if what == "not-run" else delegated).append(f"{snippet.where}: {why}")
                continue
            argv = command_for(snippet, work, port)
            if isinstance(argv, str):
                skipped.append(f"{snippet.where}: {argv}")
                continue
            code, out, err = run(argv, work, env)
            ran.append(snippet.where)
            if code is None:
                failed.append(f"{snippet.where} ({snippet.kind}): did not finish in {TIMEOUT_S} s")
            elif code != 0:
                failed.append(f"{snippet.where} ({snippet.kind}) exited {code}:\n{out[-1500:]}{err[-2500:]}")
            elif ERROR_BODY.search(out):
                failed.append(f"{snippet.where} ({snippet.kind}): the gateway answered an error:\n{out[-1500:]}")
    summary = (
        f"doc snippets: {len(ran)} run, {len(failed)} failed, {len(skipped)} skipped, "
        f"{len(delegated)} run by other tests, {parsed} YAML/JSON blocks parsed"
    )
    with capsys.disabled():
        print("\n" + summary)
        for line in skipped:
            print("  skipped  " + line)
        for line in delegated:
            print("  elsewhere " + line)
    assert not failed, summary + "\n\n" + "\n\n".join(failed)
    assert len(ran) >= 10, summary
