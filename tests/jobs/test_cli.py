"""`imagegate generate --async` and `imagegate job ID` against a real gateway on a loopback port,
with SIWX on: the job belongs to the wallet that signed the submission, and only to it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gateway.app import create_app
from gateway.cli import main
from gateway.config import parse_config
from gateway.settings import Settings
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

ROUTING = """
providers:
  mock: {adapter: mock, settings: {max_n: 1, stream_steps: 3}}
  broken: {adapter: mock, settings: {failure_rate: 1.0, failure_class: credential}}
models:
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
  dead-image: {deployments: [{provider: broken, model: mock-broken}]}
auth: {chains: ["eip155:1"]}
jobs: {heartbeat_seconds: 0.05, takeover_after_seconds: 1}
"""
OWNER, STRANGER = secrets.token_hex(32), secrets.token_hex(32)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(host="127.0.0.1", port=port), config=parse_config(ROUTING))
    with live_server(app, port) as url:
        yield url


def test_generate_async_prints_the_id_follows_and_saves(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "generate",
        "a heron",
        "--async",
        "--url",
        gateway_url,
        "-n",
        "2",
        "--width",
        "64",
        "--height",
        "64",
    ]
    code = main([*args, "--out-dir", str(tmp_path), "--evm-key", OWNER])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    job_id, *paths = out
    assert job_id.startswith("job-") and len(paths) == 2
    assert Image.open(paths[0]).size == (64, 64)

    assert main(["job", job_id, "--url", gateway_url, "--evm-key", OWNER]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["status"] == "completed" and job["id"] == job_id
    assert job["result"]["images"][0]["data_url"].endswith("base64 characters>")  # elided, not printed

    assert (
        main(
            ["job", job_id, "--events", "--url", gateway_url, "--evm-key", OWNER, "--out-dir", str(tmp_path)]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    events = [line.split() for line in lines if not line.endswith(".png")]
    assert [int(seq) for seq, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1] == "completed"

    assert main(["job", job_id, "--url", gateway_url, "--evm-key", STRANGER]) == 1  # another account: 404
    assert "404 job_not_found" in capsys.readouterr().err


def test_a_failed_job_exits_non_zero(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            "x",
            "--async",
            "--model",
            "dead-image",
            "--url",
            gateway_url,
            "--out-dir",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1 and captured.out.startswith("job-")
    assert "failed" in captured.err
