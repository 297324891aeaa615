"""`imagegate sign --issued-nonce` (docs/authentication.md): the header carries a nonce the gateway
issued, and a gateway that issues none gets one actionable line, not a traceback."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.cli import main
from gateway.config import parse_config
from gateway.settings import Settings
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

ROUTING = """
providers: {mock: {adapter: mock}}
models: {mock-image: {deployments: [{provider: mock, model: mock-v1}]}}
auth: {require_issued_nonce: %s}
"""


def test_sign_with_an_issued_nonce(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    with live_server(create_app(Settings(port=port), config=parse_config(ROUTING % "true")), port) as url:
        target = url + "/api/v1/image/generate"
        assert main(["sign", "--url", target, "--issued-nonce"]) == 0
        header = capsys.readouterr().out.strip()
        body = {"model": "mock-image", "prompt": "x", "width": 64, "height": 64}
        assert httpx.post(target, json=body, headers={"Sign-In-With-X": header}, timeout=30).status_code == 200
        assert main(["sign", "--url", target]) == 0  # a nonce of its own: refused by this gateway
        own = capsys.readouterr().out.strip()
        refused = httpx.post(target, json=body, headers={"Sign-In-With-X": own}, timeout=30)
        assert refused.json()["error"]["code"] == "auth_nonce_unknown"


def test_a_gateway_without_issued_nonces_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    with live_server(create_app(Settings(port=port), config=parse_config(ROUTING % "false")), port) as url:
        assert main(["sign", "--url", url + "/api/v1/image/generate", "--issued-nonce"]) == 1
    err = capsys.readouterr().err  # the in-process gateway logs to stderr too
    (line,) = [text for text in err.splitlines() if text.startswith("error:")]
    assert "does not issue nonces" in line and "Traceback" not in err
