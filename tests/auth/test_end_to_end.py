"""`imagegate serve` equivalent (bundled routing, auth on, real HTTP on a loopback port) + the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from PIL import Image

from gateway.app import create_app
from gateway.cli import main
from gateway.config import load_config
from gateway.settings import Settings
from tests.support.live_server import live_server
from tests.support.redis_server import free_port


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    port = free_port()
    settings = Settings(host="127.0.0.1", port=port)
    assert load_config().auth.enabled is True  # the bundled routing authenticates
    with live_server(create_app(settings), port) as url:
        yield url


@pytest.fixture(scope="module")
def issuing_gateway_url() -> Iterator[str]:
    """The bundled routing with `auth.require_issued_nonce: true` (the nonce endpoint is off without it)."""
    port = free_port()
    bundled = load_config()
    config = msgspec.structs.replace(bundled, auth=msgspec.structs.replace(bundled.auth, require_issued_nonce=True))
    with live_server(create_app(Settings(host="127.0.0.1", port=port), config=config), port) as url:
        yield url


def test_generate_command_saves_images(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            "a lighthouse at dusk",
            "--url",
            gateway_url,
            "-n",
            "2",
            "--width",
            "96",
            "--height",
            "64",
            "--format",
            "webp",
            "--out-dir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out.split()
    assert code == 0 and len(out) == 2
    for path in out:
        with Image.open(path) as image:
            assert image.format == "WEBP" and image.size == (96, 64)
        assert Path(path).parent == tmp_path


def test_generate_with_a_solana_key_and_an_issued_nonce(
    issuing_gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.auth.support import SOLANA_SEED

    code = main(
        [
            "generate",
            "a fox",
            "--url",
            issuing_gateway_url.replace("127.0.0.1", "localhost"),
            "--solana-key",
            SOLANA_SEED,
            "--issued-nonce",
            "--out-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    (path,) = capsys.readouterr().out.split()
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_sign_command_header_works_with_curl_style_requests(
    gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = gateway_url + "/api/v1/image/generate"
    assert main(["sign", "--url", url]) == 0
    header = capsys.readouterr().out.strip()
    body = {"model": "mock-image", "prompt": "x", "width": 64, "height": 64}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Sign-In-With-X": header}).status_code == 200
    assert httpx.post(url, json=body, headers={"Sign-In-With-X": header}).status_code == 401  # single_use


def test_generate_reports_gateway_errors(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["generate", "x", "--url", gateway_url, "--model", "no-such-model", "--out-dir", str(tmp_path)]
    )
    assert code == 1 and "model_not_found" in capsys.readouterr().err
