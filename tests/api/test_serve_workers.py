"""`imagegate serve --workers N` with the in-memory store would give each worker its own replay store:
one signed single-use header could then be accepted once per worker. serve refuses that combination."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import cli

AUTH_OFF = """
providers:
  mock: {adapter: mock}
models:
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
auth: {enabled: false}
"""


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cli.server, "_multiprocess_metrics_dir", lambda workers: None)
    names = ("REDIS_URL", "IMAGEGATE_CONFIG", "IMAGEGATE_WORKERS", "IMAGEGATE_PORT", "IMAGEGATE_HOST")
    for name in (*names, "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so whatever serve writes to os.environ is undone
        monkeypatch.delenv(name)
    return calls


def test_several_workers_without_redis_are_refused_when_auth_is_on(
    started: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    assert cli.main(["serve", "--workers", "2", "--port", "0"]) == 2
    assert started == []
    assert "REDIS_URL" in caplog.text


def test_several_workers_with_redis_start(
    started: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # not contacted: uvicorn.run is stubbed
    assert cli.main(["serve", "--workers", "2", "--port", "0"]) == 0
    assert started and started[0]["workers"] == 2


def test_several_workers_without_auth_start(started: list[dict[str, object]], tmp_path: Path) -> None:
    config = tmp_path / "routing.yaml"
    config.write_text(AUTH_OFF)
    assert cli.main(["serve", "--workers", "2", "--port", "0", "--config", str(config)]) == 0
    assert started and started[0]["workers"] == 2


def test_one_worker_without_redis_starts(started: list[dict[str, object]]) -> None:
    assert cli.main(["serve", "--port", "0"]) == 0
    assert started and started[0]["workers"] == 1
