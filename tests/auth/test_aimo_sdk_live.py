"""The AiMo SDK itself (@aimo.network/client + evm + svm 1.6.0, under Node) signs and calls a live
gateway: JSON, stream and file answers, EVM and Solana, one cached header re-sent (the SDK's session).
Under `auth.profile: aimo-sdk` every call succeeds; without it every call is a 401 naming the setting.
Skipped, with the reason, when Node or tests/node is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.support.live_server import live_server
from tests.support.node import require_node, run_node_json
from tests.support.redis_server import free_port

ROUTING = """
providers: {mock: {adapter: mock, settings: {max_n: 4}}}
models: {mock-image: {deployments: [{provider: mock, model: mock-v1}]}}
"""
CALLS = ["evm_json", "evm_json_again", "evm_stream", "evm_file", "svm_json", "svm_stream", "svm_file"]


@contextmanager
def gateway(auth: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    app = create_app(Settings(port=port), config=parse_config(ROUTING + auth))
    with live_server(app, port) as url:
        yield url, port


def check_success(results: dict[str, Any]) -> None:
    assert list(results) == CALLS
    for name, result in results.items():
        assert result["status"] == 200, (name, result)
        if name.endswith("_json") or name.endswith("_again"):
            assert result["images"] == 1
        elif name.endswith("_stream"):
            assert result["events"][-1] == "completed" and "image" in result["events"], result
        else:
            assert result["type"] == "image/png" and result["png"] and result["bytes"] > 0


@pytest.fixture(scope="module")
def node() -> str:
    return require_node("@aimo.network/client", "@aimo.network/evm", "@aimo.network/svm")


def test_the_sdk_works_under_the_preset(node: str) -> None:
    with gateway("auth: {profile: aimo-sdk}\n") as (url, port):
        plain = run_node_json("aimo_sdk_calls.mjs", url)
        # siwxDomain: the SDK signs for https://<domain>/... although it calls http://127.0.0.1:<port>
        rewritten = run_node_json("aimo_sdk_calls.mjs", url, f"localhost:{port}")
    check_success(plain["results"])
    check_success(rewritten["results"])
    assert plain["evm"].startswith("0x") and len(plain["svm"]) in (43, 44)


def test_without_the_preset_every_call_is_a_401_that_names_the_setting(node: str) -> None:
    with gateway("") as (url, _):
        results = run_node_json("aimo_sdk_calls.mjs", url)["results"]
    for name, result in results.items():
        assert result["status"] == 401, (name, result)
        assert result["error"]["code"] == "auth_invalid_message"
        assert "auth.profile: aimo-sdk" in result["error"]["message"], result
