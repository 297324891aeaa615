"""`GET /api/v1/session/balance` and our 402, driven by the real AiMo SDK under Node (skipped, with a
reason, when Node or the installed SDK is missing: `npm ci --prefix tests/node`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.budgets import Budgets
from gateway.config import parse_config
from gateway.redis.backend import RedisBackend
from gateway.settings import Settings
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "aimo_session.mjs"
KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the AiMo SDK test needs it"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "@aimo.network" / "client").is_dir(),
        reason="the AiMo SDK is not installed: npm ci --prefix tests/node",
    ),
]
ROUTING = """
providers:
  mock: {{adapter: mock}}
models:
  paid:
    deployments: [{{provider: mock, model: m, price: {{per_image: "0.04"}}}}]
budgets: {{default: {{prepaid: true}}}}
auth:
  domains: ["127.0.0.1:{port}"]
  origins: ["http://127.0.0.1:{port}"]
  replay: session
  nonce_required: false
"""


@pytest.fixture
def gateway(redis_url: str, redis_client: object) -> Iterator[str]:
    port = free_port()
    config = parse_config(ROUTING.format(port=port))
    app = create_app(Settings(host="127.0.0.1", port=port, redis_url=redis_url), config=config)
    with live_server(app, port) as url:
        yield url


def _sdk(url: str, *args: str) -> dict[str, object]:
    assert NODE is not None
    done = subprocess.run([NODE, str(SCRIPT), url, KEY, *args], capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def test_session_balance_through_the_sdk_and_an_actionable_402(gateway: str, redis_url: str) -> None:
    empty = _sdk(gateway, "balance")
    account = str(empty["caip_account_id"])
    assert account.startswith("eip155:1:0x") and empty["balance_usd"] == "0.000000", empty
    # No balance: our 402 reaches the SDK's user as a message they can act on, and nothing is paid.
    refused = _sdk(gateway, "generate", "paid")
    message = str(refused.get("thrown"))
    print(f"\nthe AiMo SDK threw: {message}")
    assert "insufficient balance: 0.000000 USD available, this request needs 0.040000 USD" in message, refused
    assert f"ask the operator to credit account {account}" in message
    backend = RedisBackend.from_url(redis_url)
    await Budgets.open(backend).adjust(account.lower(), 2_500_000)  # as `imagegate balance credit` does
    await backend.aclose()
    assert _sdk(gateway, "balance") == {
        "caip_account_id": account,
        "balance_micro_usdc": "2500000",
        "balance_usd": "2.500000",
    }
    assert _sdk(gateway, "generate", "paid") == {"status": 200}
    assert _sdk(gateway, "balance")["balance_usd"] == "2.460000"
