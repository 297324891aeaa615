"""The playground in headless Chromium, as a dApp on another origin uses the gateway: the page (the
gateway's own /playground) is opened from http://localhost:<P2> while the gateway answers on
http://127.0.0.1:<P1> with that origin in `server.cors.allow_origins`. Test wallets are injected: a
deterministic EVM key behind a minimal EIP-1193 `window.ethereum`, an ed25519 key behind a
Phantom-shaped `window.solana` (both sign in Python through exposed functions). Each signs a
CAIP-122 message the gateway verifies; the stream renders; the final images appear. A screenshot is
kept under the test's tmp dir (its path is printed). Also: the CORS preflight from a real browser,
allowed and refused, and /schema rendered with the network unplugged."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.client import EvmSigner, SolanaSigner
from gateway.config import load_config, parse_config
from gateway.settings import Settings
from tests.browser.conftest import Unplugged, static_site
from tests.docs.snippets import ROOT
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

EVM = EvmSigner.from_hex("0x" + "4c" * 32)
SOLANA = SolanaSigner.from_secret("8pm6ZxPkmr1L4CF7J3nXP1TZbYz9K3cBHVVTqW8fdYyK")

ROUTING = """
providers:
  mock: {{adapter: mock, settings: {{max_n: 4, stream_steps: 4, stream_previews: 1}}}}
models:
  mock-image: {{deployments: [{{provider: mock, model: mock-v1}}]}}
server:
  playground: true
  cors: {{allow_origins: ["{origin}"]}}
"""

WALLETS = """
(() => {
  const evmAddress = %(evm)s;
  window.ethereum = {
    isTestWallet: true,
    async request({ method, params }) {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [evmAddress];
      if (method === "eth_chainId") return "0x1";
      if (method === "personal_sign") return await window.__igSignEvm(params[0]);
      throw Object.assign(new Error("unsupported " + method), { code: 4200 });
    },
  };
  const publicKey = { toString: () => %(solana)s, toBase58: () => %(solana)s };
  window.solana = {
    isPhantom: true,
    publicKey,
    async connect() { return { publicKey }; },
    async signMessage(bytes, encoding) {
      return { signature: Uint8Array.from(await window.__igSignSolana(Array.from(bytes))), publicKey };
    },
  };
})();
"""


@dataclass
class Setup:
    gateway: str
    page_url: str
    site_port: int


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    gateway_port, site_port = free_port(), free_port()
    origin = f"http://localhost:{site_port}"
    app = create_app(Settings(port=gateway_port), config=parse_config(ROUTING.format(origin=origin)))
    site = tmp_path_factory.mktemp("site")
    with live_server(app, gateway_port) as gateway:
        # The gateway's own page, copied to another origin (a dApp hosting it elsewhere).
        (site / "playground.html").write_bytes(httpx.get(gateway + "/playground").content)
        with static_site(site, site_port):
            yield Setup(gateway, f"{origin}/playground.html?gateway={gateway}", site_port)


def sign_evm(hex_message: str) -> str:
    return EVM.sign(bytes.fromhex(hex_message.removeprefix("0x")))


def sign_solana(message: list[int]) -> list[int]:
    return list(SOLANA.key.sign(bytes(message)).signature)


def open_playground(context: tuple[Any, Unplugged], setup: Setup) -> Any:
    ctx, _ = context
    ctx.expose_function("__igSignEvm", sign_evm)
    ctx.expose_function("__igSignSolana", sign_solana)
    ctx.add_init_script(WALLETS % {"evm": repr(EVM.address), "solana": repr(SOLANA.address)})
    page = ctx.new_page()
    page.goto(setup.page_url)
    page.wait_for_function("document.querySelector('#model').options.length > 0")
    return page


def generate(page: Any, connect: str, *, n: int) -> None:
    page.click(connect)
    page.wait_for_selector("#run:not([disabled])")
    page.fill("#n", str(n))
    page.fill("#width", "160")
    page.fill("#height", "96")
    page.click("#run")
    page.wait_for_function(
        f"document.querySelectorAll('#images img').length === {n} && document.querySelector('#summary').textContent",
        timeout=30_000,
    )


def test_wallets_sign_and_the_stream_renders_from_another_origin(
    context: tuple[Any, Unplugged], setup: Setup, tmp_path: Path
) -> None:
    page = open_playground(context, setup)
    assert page.evaluate("location.origin") != setup.gateway  # a cross-origin page
    assert page.is_hidden("#edit-image-label")  # edit only when the gateway's schema has it
    generate(page, "#connect-evm", n=2)
    assert EVM.address in page.inner_text("#account")
    finals = page.query_selector_all("#images img")
    assert len(finals) == 2
    for image in finals:
        assert image.get_attribute("src").startswith("data:image/png;base64,")
        assert image.evaluate("img => img.complete && img.naturalWidth") == 160
    assert len(page.query_selector_all("#previews img")) >= 2  # one preview per image was streamed
    assert page.eval_on_selector("#progress", "p => p.value") == 100
    summary = page.inner_text("#summary")
    assert "status: completed" in summary and "attempts: mock/mock-v1 → ok" in summary
    assert '"attempts"' in page.inner_text("#metadata")
    assert page.inner_text("#status").startswith("Done: 2 image(s)")

    generate(page, "#connect-solana", n=1)
    assert SOLANA.address in page.inner_text("#account")
    history = page.query_selector_all("#history li")
    assert len(history) == 2 and "mock-image · completed" in history[0].inner_text()
    stored = page.evaluate("JSON.parse(localStorage.getItem('imagegate.playground.history'))")
    assert [entry["status"] for entry in stored] == ["completed", "completed"]
    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"\nplayground screenshot: {shot}")
    assert context[1].blocked == []  # nothing left loopback


def test_edit_when_the_gateway_has_it(context: tuple[Any, Unplugged], setup: Setup, tmp_path: Path) -> None:
    from PIL import Image

    base = tmp_path / "base.png"
    Image.new("RGB", (128, 96), (40, 90, 160)).save(base)
    page = open_playground(context, setup)
    page.wait_for_selector("#operation option[value=edit]", state="attached")  # listed in /schema/openapi.json
    page.select_option("#operation", "edit")
    page.set_input_files("#edit-image", str(base))
    page.click("#connect-evm")
    page.fill("#width", "128")
    page.fill("#height", "96")
    page.click("#run")
    page.wait_for_function(
        "document.querySelectorAll('#images img').length === 1 || document.querySelector('#status.error')",
        timeout=30_000,
    )
    assert "Done: 1 image(s)" in page.inner_text("#status"), page.inner_text("#status")
    assert page.eval_on_selector("#images img", "img => img.naturalWidth") == 128
    assert "· edit ·" in page.inner_text("#history li")


def test_a_refused_signature_shows_the_gateways_error(context: tuple[Any, Unplugged], setup: Setup) -> None:
    ctx, _ = context
    ctx.expose_function("__igSignEvm", lambda hex_message: "0x" + "00" * 65)
    ctx.expose_function("__igSignSolana", sign_solana)
    ctx.add_init_script(WALLETS % {"evm": repr(EVM.address), "solana": repr(SOLANA.address)})
    page = ctx.new_page()
    page.goto(setup.page_url)
    page.wait_for_function("document.querySelector('#model').options.length > 0")
    page.click("#connect-evm")
    page.click("#run")
    page.wait_for_selector("#status.error")
    assert "401 auth_invalid_signature" in page.inner_text("#status")


def preflighted_fetch(page: Any, url: str) -> Any:
    """A fetch with a non-safelisted header: the browser sends a CORS preflight first."""
    return page.evaluate(
        """async (url) => {
          try {
            const answer = await fetch(url, { headers: { "Sign-In-With-X": "e30=", "Idempotency-Key": "k1" } });
            return { status: answer.status, requestId: answer.headers.get("X-Request-Id") };
          } catch (error) { return { failed: String(error) }; }
        }""",
        url,
    )


def test_preflight_passes_for_the_allowed_origin_and_fails_for_another(
    context: tuple[Any, Unplugged], setup: Setup, tmp_path: Path
) -> None:
    ctx, _ = context
    page = ctx.new_page()
    page.goto(setup.page_url)
    allowed = preflighted_fetch(page, setup.gateway + "/api/v1/models")
    assert allowed["status"] == 200 and allowed["requestId"]  # X-Request-Id is exposed
    (tmp_path / "other.html").write_text("<!doctype html><title>other</title>")
    other_port = free_port()
    with static_site(tmp_path, other_port):
        page.goto(f"http://localhost:{other_port}/other.html")
        refused = preflighted_fetch(page, setup.gateway + "/api/v1/models")
    assert "failed" in refused and "Failed to fetch" in refused["failed"]


def test_schema_renders_with_the_network_unplugged(context: tuple[Any, Unplugged], setup: Setup) -> None:
    ctx, unplugged = context
    page = ctx.new_page()
    page.goto(setup.gateway + "/schema")
    page.wait_for_selector(".swagger-ui .information-container .title", timeout=30_000)
    assert "imagegate" in page.inner_text(".swagger-ui .information-container .title")
    operation = page.wait_for_selector('.opblock-summary-path[data-path="/api/v1/image/generate"]')
    operation.click()
    page.wait_for_selector(".opblock-body .parameters")
    assert "Sign-In-With-X" in page.inner_text(".opblock-body .parameters")
    assert "wants you to sign in with your" in page.inner_text(".opblock-body")
    assert unplugged.blocked == []


def test_the_playground_can_be_turned_off() -> None:
    from litestar.testing import TestClient

    text = ROUTING.format(origin="http://localhost:1").replace("playground: true", "playground: false")
    with TestClient(create_app(Settings(), config=parse_config(text))) as client:
        assert client.get("/playground").status_code == 404
    for shipped in ("deploy/routing.yaml", "deploy/routing.example.yaml"):  # production files: off
        config = load_config(ROOT / shipped)
        assert config.server.playground is False and config.server.cors.allow_origins == []
    with TestClient(create_app(Settings())) as client:  # the bundled config: on
        page = client.get("/playground")
        assert page.status_code == 200 and "window.ethereum" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
