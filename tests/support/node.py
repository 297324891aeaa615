"""Run the real JS clients in tests/node (installed by scripts/test with `npm ci`) under Node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def require_node(*packages: str) -> str:
    """The node executable; skips (visibly, with the reason) when Node or a package is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the real JS client tests need `node` (apt-get install nodejs)")
    missing = [name for name in packages if not (NODE_DIR / "node_modules" / name).is_dir()]
    if missing:
        pytest.skip(f"tests/node is not installed ({', '.join(missing)}): run npm ci --prefix tests/node")
    return node


def run_node_json(script: str, *args: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run tests/node/<script> (with the extensionless-import hook) and decode its one JSON line."""
    node = require_node("@aimo.network/client")
    done = subprocess.run(
        [node, "--import", "./extensionless.mjs", script, *args],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, f"{script} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
