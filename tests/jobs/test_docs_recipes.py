"""docs/jobs.md's signature recipes (Python with the reference library, Python stdlib, Node crypto),
run exactly as written against a webhook the gateway delivered; a tampered body fails each."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.jobs.test_webhooks import SECRET, Receiver, client, receiver, submit, wait_event  # noqa: F401

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def python_recipes() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    for code in blocks("python"):
        exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("receiver", [(200,)], indirect=True)
async def test_documented_recipes_verify_a_delivered_webhook(
    client: AsyncTestClient,  # type: ignore[type-arg]  # noqa: F811
    receiver: Receiver,  # noqa: F811
    tmp_path: Path,
) -> None:
    await submit(client, receiver.url)
    await wait_event(receiver.done)
    ((headers, body),) = receiver.seen
    lowered = {k.lower(): v for k, v in headers.items()}
    tampered = body.replace(b'"completed"', b'"failed"', 1)
    recipes = python_recipes()
    for name in ("verify", "verify_stdlib"):
        payload = recipes[name](body, lowered, SECRET)
        assert payload["status"] == "completed", name
        with pytest.raises(Exception):  # noqa: B017 - each recipe raises its own type
            recipes[name](tampered, lowered, SECRET)

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JS recipe was not run")
    (tmp_path / "verify.mjs").write_text(blocks("js")[0], encoding="utf-8")
    (tmp_path / "body.bin").write_bytes(body)
    (tmp_path / "tampered.bin").write_bytes(tampered)
    (tmp_path / "headers.json").write_text(json.dumps(lowered), encoding="utf-8")
    script = """
import { readFileSync } from "node:fs";
import { verify } from "./verify.mjs";
const headers = JSON.parse(readFileSync("headers.json", "utf8"));
const payload = verify(readFileSync("body.bin"), headers, process.argv[2]);
let tamperedRefused = false;
try { verify(readFileSync("tampered.bin"), headers, process.argv[2]); } catch { tamperedRefused = true; }
console.log(JSON.stringify({ status: payload.status, tamperedRefused }));
"""
    (tmp_path / "run.mjs").write_text(script, encoding="utf-8")
    result = subprocess.run(
        [node, "run.mjs", SECRET], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "completed", "tamperedRefused": True}
