"""`imagegate generate --stream`: a real gateway on a loopback port, the client's progress bar."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gateway.app import create_app
from gateway.cli import main
from gateway.client_stream import ProgressBar
from gateway.config import parse_config
from gateway.settings import Settings
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

ROUTING = """
providers:
  mock: {adapter: mock, settings: {max_n: 1, stream_steps: 4, stream_previews: 1}}
  broken: {adapter: mock, settings: {failure_rate: 1.0, failure_class: credential}}
models:
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
  dead-image: {deployments: [{provider: broken, model: mock-broken}]}
auth: {enabled: false}
"""


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    port = free_port()
    app = create_app(Settings(host="127.0.0.1", port=port), config=parse_config(ROUTING))
    with live_server(app, port) as url:
        yield url


def test_stream_flag_draws_a_progress_bar_and_saves_images(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            "a lighthouse",
            "--url",
            gateway_url,
            "-n",
            "2",
            "--width",
            "96",
            "--height",
            "64",
            "--stream",
            "--out-dir",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    paths = captured.out.split()
    assert len(paths) == 2
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (96, 64)
    frames = captured.err.strip("\n").split("\r")[1:]
    assert frames[0].startswith("[") and frames[-1].endswith("100%  2/2 images")
    assert any("  1/2 images" in frame for frame in frames)  # the bar moved before the end


def test_stream_error_event_is_reported(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            "x",
            "--url",
            gateway_url,
            "--model",
            "dead-image",
            "--stream",
            "--out-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "upstream_error" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_lines() -> None:
    out = io.StringIO()
    bar = ProgressBar(2, out)
    bar.update("progress", {"index": 0, "step": 2, "total_steps": 4})
    bar.update("progress", {"index": 0, "step": 2, "total_steps": 4})  # unchanged: not redrawn
    bar.update("image", {"index": 0})
    bar.update("progress", {"index": 1, "step": 4, "total_steps": 4})  # 99% until the image arrives
    bar.update("image", {"index": 1})
    bar.update("progress", {"index": 7, "step": 1, "total_steps": 1})  # unknown index: ignored
    bar.finish()
    assert out.getvalue().split("\r")[1:] == [
        "[#######.......................]  25%  0/2 images",
        "[###############...............]  50%  1/2 images",
        "[#############################.]  99%  1/2 images",
        "[##############################] 100%  2/2 images\n",
    ]
