"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium (scripts/test installs it),
driven by Playwright's Python API — Playwright's own browser downloads are never used. Skipped, with
the reason, when either is missing. Every request that would leave loopback is aborted and recorded."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("IMAGEGATE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Unplugged:
    """The page's network: loopback only. `blocked` lists every URL that tried to leave."""

    blocked: list[str] = field(default_factory=list)

    def route(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")


@pytest.fixture
def context(browser: Any) -> Iterator[tuple[Any, Unplugged]]:
    unplugged = Unplugged()
    ctx = browser.new_context(viewport={"width": 1100, "height": 1400})
    ctx.route("**/*", unplugged.route)
    try:
        yield ctx, unplugged
    finally:
        ctx.close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_site(root: Path, port: int) -> Iterator[None]:
    """Serve `root` on 127.0.0.1:<port> (opened as http://localhost:<port>: another origin)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
