"""The HTTP edge: uvicorn's h11 protocol with the limits a public listener needs (routing YAML `server:`).

uvicorn (0.55) bounds the header block only on its h11 protocol (`h11_max_incomplete_event_size`;
httptools buffers a header block of any size), none of its protocols has a timeout for reading a
request's headers or body or for a client that stops reading, and `limit_concurrency` answers 503
to a *request* while the excess connection and its file descriptor stay open. This subclass adds,
per connection and before any application code:

- head: `header_timeout_seconds` from connect (or from the first byte of the next keep-alive
  request) until the request line and headers are in -> 408. More than `max_header_bytes` (h11's
  own limit while the block is incomplete, then HeaderGuard) or `max_header_count` fields -> 431.
  Other malformed requests -> 400.
- body: `body_timeout_seconds` from the end of the headers until the whole body is in -> 408 (or a
  plain close once the response has started); the app sees `http.disconnect`.
- send: while the transport holds more than its high-water mark (the client stopped reading) a
  `send_timeout_seconds` timer runs; no drain before it fires -> abort. The app sees
  `http.disconnect`, so a stream stops and its upstream work is cancelled. Abort, not close: close
  waits for the buffer to drain, which a client that never reads never lets happen.
- connections: over `max_connections` in this process a new connection is answered 503 and closed
  at once, so its descriptor is freed and /healthz keeps being accepted.

Every refusal carries `Connection: close`, the spec's error body, and counts in
`imagegate_edge_rejections_total{reason}`. The settings are read once at start-up.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import resource
import uuid
from typing import Any

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.config import ServerConfig
from gateway.metrics import EDGE_REJECTIONS

log = logging.getLogger("imagegate.edge")

# Descriptors kept for everything that is not a client: the Redis pool (64 by default), provider pools, logs.
FD_RESERVE = 512


class EdgeLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    max_connections: int = 1000


def uvicorn_options(server: ServerConfig) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`. Raises this process' descriptor limit (workers inherit it)
    and keeps the connection cap below it."""
    soft = raise_fd_limit()
    cap = connection_cap(server.max_connections, soft)
    if cap < server.max_connections:
        log.warning(
            "server.max_connections %d lowered to %d: the open-file limit is %d (raise it, e.g. ulimit -n)",
            server.max_connections, cap, soft,
        )  # fmt: skip
    limits = EdgeLimits(
        max_header_bytes=server.max_header_bytes,
        max_header_count=server.max_header_count,
        header_timeout=server.header_timeout_seconds,
        body_timeout=server.body_timeout_seconds,
        send_timeout=server.send_timeout_seconds,
        max_connections=cap,
    )
    return {
        # A partial pickles (msgspec Structs do), so `--workers N` hands the limits to each worker.
        "http": functools.partial(EdgeProtocol, limits=limits),
        "h11_max_incomplete_event_size": server.max_header_bytes,
        "timeout_keep_alive": server.keep_alive_seconds,
        "ws": "none",  # no WebSocket routes: an Upgrade request is a plain HTTP request, not a handshake
    }


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1024 * 1024
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. above fs.nr_open: keep what we have
            pass
    return soft if soft != resource.RLIM_INFINITY else 1024 * 1024


def connection_cap(configured: int, fd_limit: int) -> int:
    """At most all descriptors but FD_RESERVE (and at most half of a small limit) go to clients."""
    return max(1, min(configured, max(fd_limit // 2, fd_limit - FD_RESERVE)))


def error_body(code: str, message: str) -> bytes:
    return msgspec.json.encode({"error": {"code": code, "message": message}})


def raw_response(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response, for moments when h11 has no request to answer."""
    body = error_body(code, message)
    retry = "retry-after: 1\r\n" if status == 503 else ""  # over the connection cap: usually a blink
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n{retry}content-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: req-{uuid.uuid4().hex}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderGuard:
    """ASGI wrapper run before the app: more header fields than the limit, or a header block that
    arrived whole in one read (h11 only measures incomplete ones) but is over the byte limit -> 431."""

    __slots__ = ("app", "max_bytes", "max_count")

    def __init__(self, app: Any, limits: EdgeLimits) -> None:
        self.app, self.max_bytes, self.max_count = app, limits.max_header_bytes, limits.max_header_count

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > self.max_count:
            reason, message = "too_many_headers", f"more than {self.max_count} header fields"
        elif self._head_bytes(scope) > self.max_bytes:
            reason, message = "header_too_large", f"header block over {self.max_bytes} bytes"
        else:
            await self.app(scope, receive, send)
            return
        EDGE_REJECTIONS.labels(reason).inc()
        body = error_body("invalid_request", message)
        start = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", f"req-{uuid.uuid4().hex}".encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 431, "headers": start})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _head_bytes(scope: Any) -> int:
        """Request line (the target can be as long as one socket read) plus the header fields."""
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 1
        return target + 16 + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class EdgeProtocol(H11Protocol):
    """uvicorn's H11Protocol plus the timers and caps above (see the module docstring)."""

    def __init__(self, *args: Any, limits: EdgeLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.app = HeaderGuard(self.app, limits)
        self._read_phase: str | None = None  # "header" | "body" while a read timer runs
        self._read_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            EDGE_REJECTIONS.labels("connection_limit").inc()
            transport.write(raw_response(503, "service_unavailable", "too many connections; retry later"))
            transport.close()
            return
        self._track_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._read_phase is None and self.conn.their_state is h11.IDLE:
            self._arm("header")  # the first byte of the next request on a keep-alive connection
        super().data_received(data)
        self._track_reading()

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request: 431 when its buffer limit tripped (the header block), else 400."""
        limit = self.limits.max_header_bytes
        if len(self.conn.trailing_data[0]) > limit:
            reason, status, message = "header_too_large", 431, f"header block over {limit} bytes"
        else:
            reason, status, message = "bad_request", 400, "malformed HTTP request"
        EDGE_REJECTIONS.labels(reason).inc()
        log.debug("refused a request: %s", reason)
        self._shut(raw_response(status, "invalid_request", message), self._read_phase)

    def _unsupported_upgrade_warning(self) -> None:
        """uvicorn logs two WARNING lines per request with an Upgrade header; a client could fill the
        log with them. The request is served as plain HTTP either way (no WebSocket routes here)."""
        log.debug("ignored an Upgrade request header")

    def _shut(self, response: bytes, phase: str | None) -> None:
        """Answer `response` if a request is waiting for one (never after or inside another
        answer), stop the app's I/O, close."""
        active = self.cycle if self.cycle is not None and not self.cycle.response_complete else None
        if (active is None and phase == "header") or (active is not None and not active.response_started):
            self.transport.write(response)
        if active is not None:  # the app's sends are dropped from now on; its receive says disconnect
            active.disconnected = True
            active.message_event.set()
        self.transport.close()

    # Reading: one timer for whatever the client still owes us (the headers, then the body).

    def _track_reading(self) -> None:
        if self.transport.is_closing():
            self._cancel_read_timer()
            return
        state = self.conn.their_state
        phase = "header" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if phase == self._read_phase:
            return
        self._cancel_read_timer()
        # An idle keep-alive connection gets no timer here (this runs on connect and after data):
        # uvicorn's keep-alive timer owns it until the next byte arrives.
        if phase is not None:
            self._arm(phase)

    def _arm(self, phase: str) -> None:
        seconds = self.limits.header_timeout if phase == "header" else self.limits.body_timeout
        self._read_phase = phase
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out, phase)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer, self._read_phase = None, None

    def _read_timed_out(self, phase: str) -> None:
        self._read_timer, self._read_phase = None, None
        if self.transport.is_closing():
            return
        EDGE_REJECTIONS.labels(f"{phase}_timeout").inc()
        log.debug("closed a connection: request %s not received in time", phase)
        what = "headers" if phase == "header" else "body"
        self._shut(raw_response(408, "invalid_request", f"request {what} not received in time"), phase)

    # Writing: a client that does not drain what we send.

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timed_out(self) -> None:
        self._send_timer = None
        EDGE_REJECTIONS.labels("send_timeout").inc()
        log.info("aborted a connection: the client read nothing for %.1f s", self.limits.send_timeout)
        self.transport.abort()  # connection_lost follows: the app sees http.disconnect
