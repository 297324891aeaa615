"""A real `imagegate serve` (the installed console script) on a free loopback port, for acceptance tests.

Everything here talks to the gateway the way a newcomer following README.md does: over real HTTP and
through the `imagegate` command, never through the app object.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.auth.api_keys import digest
from gateway.config import BUNDLED_CONFIG
from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0


def imagegate_command() -> str:
    """The venv's console script (the one README.md runs), else whatever `imagegate` is on PATH."""
    beside = Path(sys.executable).with_name("imagegate")
    found = str(beside) if beside.exists() else shutil.which("imagegate")
    if not found:
        pytest.fail("the imagegate console script is not installed (pip install -e .)")
    return found


def clean_env() -> dict[str, str]:
    """The environment of a fresh shell: no REDIS_URL or IMAGEGATE_* left over from the test run."""
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("IMAGEGATE_")}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [imagegate_command(), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
        cwd=cwd or REPO, env=clean_env(), check=False,
    )


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    @property
    def generate_url(self) -> str:
        return self.url + "/api/v1/image/generate"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_gateway(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Served:
    """`env`: variables added to the clean environment (e.g. REDIS_URL for replicas sharing Redis)."""
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [imagegate_command(), "serve", "--port", str(port), *extra],
            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=REPO, env={**clean_env(), **(env or {})},
        )
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"imagegate serve exited with {process.returncode}:\n{served.log()}")
        try:
            if httpx.get(served.url + "/healthz", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_gateway(served)
            pytest.fail(f"imagegate serve did not answer /healthz in {START_TIMEOUT_S}s:\n{served.log()}")
        time.sleep(0.1)


def stop_gateway(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(timeout=5)


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`imagegate serve` exactly as README.md runs it (bundled routing, no Redis), on a free port."""
    served = start_gateway(tmp_path_factory.mktemp("gateway"))
    try:
        yield served
    finally:
        stop_gateway(served)


# The OpenAI-compatible gateway's keys: any model / a tiny account limit / only `tiny-image`.
SECRET, LIMITED, NARROW = "igk_acceptance-secret", "igk_limited-secret", "igk_narrow-secret"


@pytest.fixture(scope="package")
def openai_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The bundled mock routing plus two operator API keys (`app`: SECRET; `tiny`: LIMITED, whose
    account has a one-request limit on `tiny-image`, another mock model), for the OpenAI SDK tests."""
    tmp = tmp_path_factory.mktemp("openai")
    routing = Path(BUNDLED_CONFIG).read_text().replace(
        "models:\n", "models:\n  tiny-image:\n    deployments: [{provider: mock, model: mock-v1}]\n", 1
    ) + (
        "  api_keys:\n"
        f"    - {{name: app, sha256: {digest(SECRET)}}}\n"
        f"    - {{name: tiny, sha256: {digest(LIMITED)}, account: tiny-team}}\n"
        f"    - {{name: narrow, sha256: {digest(NARROW)}, models: [tiny-image]}}\n"
        "limits:\n"
        "  account: {rate: 1000, period_seconds: 1, burst: 1000,"
        " models: {tiny-image: {rate: 1, period_seconds: 3600, burst: 1}}}\n"
    )
    path = tmp / "routing.yaml"
    path.write_text(routing)
    served = start_gateway(tmp, "--config", str(path))
    try:
        yield served
    finally:
        stop_gateway(served)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client
