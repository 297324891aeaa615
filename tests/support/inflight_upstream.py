"""A tiny HTTP fake upstream on a loopback port that counts requests in flight (across every caller)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.images import png


class InflightUpstream:
    """POST anything -> after `delay_s`, an 8x8 PNG. `peak` is the most requests ever in flight."""

    def __init__(self, delay_s: float = 0.15) -> None:
        self.delay_s = delay_s
        self.in_flight = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/generate"

    def start(self) -> InflightUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream, body = self, png((40, 90, 200), (8, 8))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with upstream._lock:
                    upstream.in_flight += 1
                    upstream.total += 1
                    upstream.peak = max(upstream.peak, upstream.in_flight)
                try:
                    time.sleep(upstream.delay_s)
                finally:
                    with upstream._lock:
                        upstream.in_flight -= 1
                self.send_response(200)
                self.send_header("content-type", "image/png")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler
