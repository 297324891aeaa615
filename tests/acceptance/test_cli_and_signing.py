"""The CLI and request signing end to end (the "Done when" of issue 3): `imagegate generate` and
`imagegate sign` against serve."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import base58
import httpx
import pytest
from PIL import Image

from tests.acceptance.conftest import REPO, Served, run_cli, start_gateway, stop_gateway

pytestmark = pytest.mark.slow

BODY = {"model": "mock-image", "prompt": "a lighthouse at dusk", "width": 64, "height": 64}
CHALLENGE = re.compile(r'^SIWX realm="imagegate", domain="[^"]+", uri="http://[^"]+", chains="[^"]+"$')


def test_generate_command_produces_images(gateway: Served, tmp_path: Path) -> None:
    done = run_cli("generate", "a lighthouse at dusk", "-n", "2", "--format", "webp", "--url", gateway.url,
                   "--out-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    paths = done.stdout.split()
    assert len(paths) == 2
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "WEBP" and image.size == (1024, 1024)


def test_generate_with_a_solana_key(gateway: Served, tmp_path: Path) -> None:
    key = base58.b58encode(secrets.token_bytes(32)).decode()
    done = run_cli("generate", "a fox", "--url", gateway.url, "--solana-key", key, "--width", "96", "--height",
                   "64", "--out-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (path,) = done.stdout.split()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (96, 64)


def test_generate_reports_errors_with_a_non_zero_exit(gateway: Served, tmp_path: Path) -> None:
    done = run_cli("generate", "x", "--url", gateway.url, "--model", "no-such-model", "--out-dir", str(tmp_path))
    assert done.returncode == 1 and "model_not_found" in done.stderr


@pytest.mark.parametrize(
    "key_args",
    [
        ["--evm-key", "0xZZ" + "ab" * 31],  # not hex
        ["--evm-key", "0x" + "00" * 32],  # hex, but zero is not a secp256k1 key
        ["--solana-key", "QQQ/0OIl" + "1" * 40],  # not base58 ('/', '0', 'O', 'I', 'l')
        ["--solana-key", "/nonexistent/key.json"],
    ],
)
@pytest.mark.parametrize("command", [["sign"], ["generate", "x", "--url", "http://127.0.0.1:9"]])
def test_a_bad_key_is_an_error_line_not_a_traceback(command: list[str], key_args: list[str]) -> None:
    done = run_cli(*command, *key_args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")
    if key_args[1].endswith(".json"):  # a key file's path is no secret: naming it is the actionable part
        assert f"no such key file: {key_args[1]}" in done.stderr
    else:
        assert key_args[1] not in done.stderr  # the (mistyped) secret is not echoed


@pytest.mark.parametrize(
    "command",
    [["sign"], ["generate", "x"], ["edit", "docs/images/edit-base.png", "--prompt", "x"]],
)
@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999999/x"])
def test_a_malformed_url_is_an_error_line_not_a_traceback(command: list[str], url: str) -> None:
    done = run_cli(*command, "--url", url)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: ") and "URL" in done.stderr


def test_signed_header_works_once_then_is_a_replay(gateway: Served, http: httpx.Client) -> None:
    done = run_cli("sign", "--url", gateway.generate_url)
    assert done.returncode == 0, done.stderr
    header = done.stdout.strip()
    first = http.post(gateway.generate_url, json=BODY, headers={"Sign-In-With-X": header})
    assert first.status_code == 200, first.text
    replay = http.post(gateway.generate_url, json=BODY, headers={"Sign-In-With-X": header})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "auth_nonce_reused"
    assert CHALLENGE.match(replay.headers["www-authenticate"])
    assert header not in gateway.log()  # the header is never logged


@pytest.mark.parametrize(
    ("header", "code"),
    [(None, "auth_missing"), ("%%%", "auth_malformed"), ("e30=", "auth_malformed")],
)
def test_every_401_carries_the_challenge(gateway: Served, http: httpx.Client, header: str | None, code: str) -> None:
    headers = {} if header is None else {"Sign-In-With-X": header}
    response = http.post(gateway.generate_url, json=BODY, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == code
    challenge = response.headers["www-authenticate"]
    assert CHALLENGE.match(challenge) and "eip155:1" in challenge
    assert response.headers["x-request-id"]


def test_header_for_another_domain_is_refused(gateway: Served, http: httpx.Client) -> None:
    foreign = gateway.generate_url.replace("127.0.0.1", "gateway.example.com")
    header = run_cli("sign", "--url", foreign).stdout.strip()
    response = http.post(gateway.generate_url, json=BODY, headers={"Sign-In-With-X": header})
    assert response.status_code == 401 and response.json()["error"]["code"] == "auth_domain_mismatch"
    assert CHALLENGE.match(response.headers["www-authenticate"])


def test_issued_nonce_endpoint(gateway: Served, http: httpx.Client, tmp_path: Path) -> None:
    # Off unless the gateway requires issued nonces (issue 13: each call stores a key).
    off = http.get(gateway.url + "/api/v1/auth/nonce")
    assert off.status_code == 404 and off.json()["error"]["code"] == "not_found"
    routing = tmp_path / "routing.yaml"
    bundled = (REPO / "gateway" / "default_routing.yaml").read_text()
    routing.write_text(bundled.replace("  replay: single_use\n", "  replay: single_use\n  require_issued_nonce: true\n"))
    issuing = start_gateway(tmp_path, "--config", str(routing))
    try:
        issued = http.get(issuing.url + "/api/v1/auth/nonce").json()
        assert set(issued) == {"nonce", "domain", "uri", "chains", "issued_at", "expiration_time"}
        assert re.fullmatch(r"[A-Za-z0-9]{8,128}", issued["nonce"])
        done = run_cli("generate", "a fox", "--url", issuing.url, "--issued-nonce", "--out-dir", str(tmp_path))
        assert done.returncode == 0, done.stderr
    finally:
        stop_gateway(issuing)


def test_serve_refuses_several_workers_without_a_shared_replay_store() -> None:
    from tests.support.redis_server import free_port

    done = run_cli("serve", "--workers", "2", "--port", str(free_port()))
    assert done.returncode == 2 and "REDIS_URL" in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--port", "99999"], {}, "port"),  # was served on 99999 - 65536 = 34463, announced as 99999
        (["--workers", "0"], {}, "workers"),
        ([], {"IMAGEGATE_PORT": "abc"}, "port"),  # was a ValueError traceback
        ([], {"IMAGEGATE_WORKERS": "two"}, "workers"),
    ],
)
def test_serve_refuses_an_impossible_port_or_worker_count(args: list[str], env: dict[str, str], named: str) -> None:
    import subprocess

    from tests.acceptance.conftest import CLI_TIMEOUT_S, clean_env, imagegate_command

    done = subprocess.run(
        [imagegate_command(), "serve", *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
        cwd=REPO, env={**clean_env(), **env}, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-500:]
    assert "Traceback" not in done.stderr and named in done.stderr
