"""The official OpenAI Node SDK (the `openai` npm package, tests/node) against a live `imagegate
serve`: tests/node/openai_images.mjs runs the flows and prints one JSON line per step.

Skipped, with the reason shown, when `node` is not on PATH or `npm ci --prefix tests/node` has not
installed the package (scripts/test does that when npm is present)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import REPO, SECRET, Served
from tests.support.edit import mask_png, picture

pytestmark = pytest.mark.slow

NODE_DIR = REPO / "tests" / "node"
SCRIPT = NODE_DIR / "openai_images.mjs"


def run_node(served: Served, *steps: str, fixtures: Path | None = None) -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the OpenAI Node SDK flows were not run")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        pytest.skip("the openai npm package is not installed: run `npm ci --prefix tests/node`")
    done = subprocess.run(
        [node, str(SCRIPT), served.url + "/v1", SECRET, *steps],
        capture_output=True, text=True, timeout=120, cwd=NODE_DIR, check=False,
        env={**os.environ, "IMAGEGATE_FIXTURES": str(fixtures or NODE_DIR)},
    )
    results = {line["step"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return results


def test_the_node_sdk_generates_streams_and_raises_typed_errors(openai_gateway: Served) -> None:
    results = run_node(openai_gateway, "generate", "stream", "bad_request", "bad_key", "models")
    assert results["generate"] == {"step": "generate", "count": 2, "size": "320x192", "quality": "hd", "png": True}
    events = results["stream"]["events"]
    assert [event["type"] for event in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert events[0]["index"] == 0 and events[0]["bytes"] > 0  # a provider preview, in its own format
    assert events[1]["size"] == "128x128" and events[1]["format"] == "png" and events[1]["png"]
    bad = results["bad_request"]
    assert bad["raised"] == "BadRequestError" and bad["status"] == 400 and bad["param"] == "response_format"
    assert "storage" in bad["message"]
    key = results["bad_key"]
    assert key["raised"] == "AuthenticationError" and key["status"] == 401 and key["code"] == "auth_invalid_key"
    assert {"mock", "mock-image"} <= set(results["models"]["ids"])


def test_the_node_sdk_edits_with_one_and_several_files_and_streams(openai_gateway: Served, tmp_path: Path) -> None:
    for name, data in (("a.png", picture((64, 64))), ("b.png", picture((64, 64), (200, 30, 30)))):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "mask.png").write_bytes(mask_png((64, 64), (16, 16, 48, 48)))
    results = run_node(openai_gateway, "edit", "edit_stream", fixtures=tmp_path)
    assert results["edit"] == {"step": "edit", "one": 1, "many": 2, "png": True}
    events = results["edit_stream"]["events"]
    assert [event["type"] for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert events[-1]["png"]
