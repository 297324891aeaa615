"""The Dockerfile's own commands, without a Docker engine: copy what its COPY lines copy, create the
venv and run its `pip install` (non-editable) exactly as written, then start its ENTRYPOINT with the
runtime stage's ENV (plus the compose file's config mount and a real Redis) and probe it with its
HEALTHCHECK command. Only the host is overridden to loopback, the way `docker run IMAGE --host …`
appends arguments to the entrypoint."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.client import EvmSigner, sign_header
from tests.deploy.support import ROOT, background, wait_http_ok
from tests.deploy.test_compose_and_dockerfile import dockerfile_instructions
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

IMAGE_VENV = "/opt/imagegate"


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for word, rest in dockerfile_instructions():
        if word == "FROM":
            out.append([])
        if out:
            out[-1].append((word, rest))
    return out


def test_dockerfile_install_and_entrypoint_serve_healthz(tmp_path: Path, redis_url: str) -> None:
    build, runtime = stages()[0], stages()[-1]
    src = tmp_path / "src"
    src.mkdir()
    venv = tmp_path / "opt-imagegate"
    runs = [rest for word, rest in build if word == "RUN"]
    assert runs == [f"python -m venv {IMAGE_VENV}", f"{IMAGE_VENV}/bin/pip install --no-cache-dir ."]

    for word, rest in build:  # COPY, into the build stage's WORKDIR
        if word == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                target = src / dest / Path(source).name if dest.endswith("/") else src / dest
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(ROOT / source, target)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = shlex.split(runs[1].replace(IMAGE_VENV, str(venv)))
    install = subprocess.run(
        [*pip, "-q", "--disable-pip-version-check"],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    # The image's runtime ENV, with its PATH pointing at our venv instead of /opt/imagegate.
    env: dict[str, str] = {"HOME": str(tmp_path)}
    for word, rest in runtime:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value.replace(IMAGE_VENV, str(venv)).replace("$PATH", "/usr/bin:/bin")
    port = free_port()
    env.update(
        IMAGEGATE_PORT=str(port),  # what an operator sets to move the port (the HEALTHCHECK reads it too)
        IMAGEGATE_CONFIG=str(ROOT / "deploy/routing.yaml"),  # the compose file's mount
        REDIS_URL=redis_url,
    )
    python = venv / "bin/python"
    where = subprocess.run(
        [str(python), "-c", "import gateway; print(gateway.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in where, f"the venv must hold an installed copy, not the source tree: {where}"
    bundled = subprocess.run(
        ["imagegate", "check-config"], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert bundled.returncode == 0 and "mock-image" in bundled.stdout, "package data (bundled YAML) installed"

    entrypoint = json.loads(next(rest for word, rest in runtime if word == "ENTRYPOINT"))
    healthcheck = json.loads(next(rest for word, rest in runtime if word == "HEALTHCHECK").split("CMD", 1)[1])
    with background([*entrypoint, "--host", "127.0.0.1"], env=env, cwd=tmp_path) as proc:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http_ok(f"{base}/healthz", proc=proc.process, timeout=90)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{proc.log()}") from exc
        ready = httpx.get(f"{base}/readyz", timeout=5.0).json()
        assert ready["status"] == "ready" and ready["store"] == {"kind": "redis", "ok": True}
        models = httpx.get(f"{base}/api/v1/models", timeout=5.0).json()
        assert "mock-image" in {m["id"] for m in models["data"]}
        # A signed generation (for the compose load balancer's address) through the installed copy.
        headers = {
            "Sign-In-With-X": sign_header(
                "http://localhost:8080/api/v1/image/generate", EvmSigner.throwaway()
            )
        }
        body = {"model": "mock-image", "prompt": "a lighthouse", "n": 2, "width": 64, "height": 64}
        generated = httpx.post(f"{base}/api/v1/image/generate", json=body, headers=headers, timeout=60.0)
        assert generated.status_code == 200, generated.text
        assert [image["index"] for image in generated.json()["images"]] == [0, 1]
        probe = subprocess.run(
            healthcheck, env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False
        )
        assert probe.returncode == 0, probe.stderr
    probe = subprocess.run(healthcheck, env=env, cwd=tmp_path, capture_output=True, timeout=30, check=False)
    assert probe.returncode != 0, "the HEALTHCHECK must fail once the server is gone"
    assert os.path.basename(healthcheck[0]) == "python"
