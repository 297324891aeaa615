"""A1111 progress bodies -> progress and preview updates (fixture, repeats, junk)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from adapters.a1111_progress import ProgressFollower
from gateway.canonical import PreviewImage, ProgressUpdate

BODY = json.loads((Path(__file__).parent.parent / "fixtures/streaming/a1111/progress_200.json").read_text())


def test_fixture_gives_step_and_preview_once() -> None:
    follower = ProgressFollower()
    raw = json.dumps(BODY).encode()
    assert follower.feed(raw) == [
        ProgressUpdate(step=10, total_steps=20),
        PreviewImage(data=base64.b64decode(BODY["current_image"])),
    ]
    assert follower.feed(raw) == []  # the same state polled again is not news


def test_idle_server_and_junk_give_nothing() -> None:
    idle = {"progress": 0.0, "state": {"job_count": 0, "sampling_step": 0, "sampling_steps": 0}, "current_image": None}
    follower = ProgressFollower()
    assert follower.feed(json.dumps(idle).encode()) == []
    assert follower.feed(b"<html>") == []
    assert follower.feed(b'{"progress": 0.5, "x": ' + b"[" * 100_000) == []  # past msgspec's depth limit
    assert follower.feed(json.dumps({**BODY, "current_image": "***"}).encode()) == [ProgressUpdate(step=10, total_steps=20)]
