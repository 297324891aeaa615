"""The CLI's progress bar draws while the stream is still arriving (not after it ended), and the
client commands' usage errors are one actionable line, never a traceback, before any request."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gateway.cli import main
from gateway.client_stream import read_stream

EVENTS = [
    'event: progress\ndata: {"index": 0, "step": 1, "total_steps": 4}\n',
    'event: progress\ndata: {"index": 0, "step": 2, "total_steps": 4}\n',
    'event: image\ndata: {"index": 0}\n',
    'event: completed\ndata: {"id": "x", "images": []}\n',
]


class Response:
    """iter_lines() like httpx's, recording how much of the bar was drawn before each next line."""

    def __init__(self, out: io.StringIO) -> None:
        self.out = out
        self.drawn_before: list[str] = []

    def iter_lines(self) -> Iterator[str]:
        for event in EVENTS:
            self.drawn_before.append(self.out.getvalue())
            yield from event.split("\n")


def test_the_bar_moves_before_the_stream_ends() -> None:
    out = io.StringIO()
    response = Response(out)
    assert read_stream(response, n=1, progress=out)["id"] == "x"  # type: ignore[arg-type]
    assert response.drawn_before[0] == ""
    assert "25%" in response.drawn_before[1]  # the first event was drawn before the second arrived
    assert "50%" in response.drawn_before[2] and "100%" in response.drawn_before[3]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["generate", "x", "--url", "http://127.0.0.1:9", *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return code, err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--evm-key", "0xnothex"], "--evm-key is not a valid key"),
        (["--solana-key", "not-base58-0OIl"], "--solana-key is not a valid key"),
        (["--solana-key", "/nonexistent/id.json"], "no such key file: /nonexistent/id.json"),
        (["--evm-key", "11" * 32, "--solana-key", "x"], "not both"),
    ],
)
def test_key_errors_are_one_line(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(args, capsys)
    assert code == 2 and err.startswith("error: ") and says in err


@pytest.mark.parametrize("command", ["generate", "edit"])
def test_an_unwritable_out_dir_is_refused_before_the_request(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    base = tmp_path / "base.png"
    Image.new("RGB", (8, 8)).save(base)
    args = ["x"] if command == "generate" else [str(base), "--prompt", "x"]
    # Nothing listens on port 9: had the request been sent, the error would be a connection error.
    code = main([command, *args, "--url", "http://127.0.0.1:9", "--out-dir", str(blocker / "images")])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert code == 2 and f"--out-dir {blocker / 'images'}: cannot write there" in err
