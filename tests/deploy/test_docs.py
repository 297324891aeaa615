"""The deployment docs: every shell command is run by a test (named in the comment above it) or is
marked "not run here"; the runbook has a section per alert; links resolve. The quickstart's
commands run here exactly as written (only port 8000 is swapped for a free one)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy.support import ROOT, background, doc_blocks, doc_command, runner_of, wait_http_ok
from tests.support.redis_server import free_port

DOCS = [
    ROOT / "docs/quickstart.md",
    ROOT / "docs/operations.md",
    ROOT / "docs/architecture.md",
    ROOT / "deploy/k8s/README.md",
]
SHELL = {"sh", "bash", "shell", "console"}
WRITTEN_ELSEWHERE = {"authentication.md", "routing.md", "providers.md", "metrics.md", "streaming.md"}


def test_every_shell_command_is_tested_or_marked_not_run_here() -> None:
    checked = 0
    for path in DOCS:
        for block in doc_blocks(path):
            if block.language not in SHELL:
                assert block.language, f"{path.name}:{block.line}: give the block a language"
                continue
            checked += 1
            where = f"{path.relative_to(ROOT)}:{block.line}"
            test = runner_of(block)
            if test is None:
                assert "not run here" in block.marker.lower() or "not-run:" in block.marker, (
                    f"{where}: neither tested nor marked 'not run here' / <!-- not-run: reason -->"
                )
            elif test == ".ci/run":
                ci = (ROOT / ".ci/run").read_text()
                assert block.text.strip() in ci, f"{where}: .ci/run does not run {block.text!r}"
            else:
                file, _, function = test.partition("::")
                assert re.search(rf"^def {function}\(", (ROOT / file).read_text(), re.M), (
                    f"{where}: no test {test}"
                )
    assert checked >= 8


def test_doc_links_resolve() -> None:
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if target.startswith(("http://", "https://")) or Path(target).name in WRITTEN_ELSEWHERE:
                continue
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


def test_runbook_has_a_section_per_alert() -> None:
    headings = {
        line[4:].strip().lower()
        for line in (ROOT / "docs/operations.md").read_text().splitlines()
        if line.startswith("### ")
    }
    groups = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        anchor = rule["annotations"]["runbook"]
        assert anchor == f"docs/operations.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in headings, f"no runbook section for {rule['alert']}"


def test_check_config_command() -> None:
    for doc in ("docs/quickstart.md", "docs/operations.md"):
        command = doc_command(ROOT / doc, "test_check_config_command")
        result = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ok: deploy/routing.yaml") and "mock-image" in result.stdout


def fresh_copy(dest: Path) -> None:
    """The repo's files (tracked and new, not ignored): what a fresh clone has."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """Step 1 of the quickstart, run as written in a fresh copy of the repo, on a free port."""
    clone = tmp_path_factory.mktemp("clone")
    fresh_copy(clone)
    command = doc_command(ROOT / "docs/quickstart.md", "test_quickstart_serve_then_request", contains="serve")
    assert command == next(
        b.text.strip() for b in doc_blocks(ROOT / "README.md") if "imagegate serve" in b.text
    )
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "REDIS_URL"} and not k.startswith("IMAGEGATE_")
    }
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "/.venv/" not in p)  # the user's python3
    env["IMAGEGATE_PORT"] = str(port)
    with background(["bash", "-c", command], env=env, cwd=clone) as proc:
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc=proc.process, timeout=600)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{proc.log()}") from exc
        yield clone, port


@pytest.mark.slow
def test_quickstart_serve_then_request(quickstart: tuple[Path, int]) -> None:
    clone, port = quickstart
    assert (clone / ".venv/bin/imagegate").exists()
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5.0).json()
    assert ready["status"] == "ready" and ready["store"]["kind"] == "memory"
    command = doc_command(
        ROOT / "docs/quickstart.md", "test_quickstart_serve_then_request", contains="curl"
    ).replace(":8000", f":{port}")
    assert command.startswith("curl ")
    result = subprocess.run(
        ["bash", "-c", command], cwd=clone, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "completed" and [i["index"] for i in body["images"]] == [0, 1]
    assert body["images"][0]["format"] == "webp" and body["images"][0]["data_url"].startswith(
        "data:image/webp;base64,"
    )


@pytest.mark.slow
def test_quickstart_cli_generate(quickstart: tuple[Path, int]) -> None:
    clone, port = quickstart
    has_cli = subprocess.run(
        [str(clone / ".venv/bin/imagegate"), "generate", "--help"], capture_output=True, check=False
    )
    if has_cli.returncode != 0:
        pytest.skip("`imagegate generate` is not on this branch yet (the signing client, issue 3)")
    command = doc_command(ROOT / "docs/quickstart.md", "test_quickstart_cli_generate").replace(
        ":8000", f":{port}"
    )
    result = subprocess.run(
        ["bash", "-c", command], cwd=clone, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    images = [p for p in (clone / "out").iterdir() if p.suffix in {".png", ".webp", ".jpeg", ".jpg"}]
    assert len(images) == 2, f"expected the 2 images asked for: {result.stdout}"
    assert sorted(str(p.relative_to(clone)) for p in images) == sorted(result.stdout.split()), (
        "prints the saved files"
    )
