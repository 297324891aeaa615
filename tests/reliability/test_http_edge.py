"""The HTTP edge under hostile clients (issue 13 items 1-2), against a real `imagegate serve` process.

Header floods (memory measured from /proc), 10,000 headers, slowloris headers, slow bodies, more
connections than the process has descriptors for, and a `stream: true` client that never reads.
The routing file sets short edge timeouts (1 s) so the scenarios are quick; bounds are generous.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.reliability import figures
from tests.reliability.cluster import GatewayCluster, GatewayProcess
from tests.reliability.scenario import metric_sum, routing_yaml, scrape

pytestmark = pytest.mark.reliability

TIMEOUT = 1.0  # header, body and send timeouts in the test routing file
SHED_BOUND = TIMEOUT + 7.0  # generous: a loaded 2-core box
MIB = 1024 * 1024
EDGE = {
    "header_timeout_seconds": TIMEOUT,
    "body_timeout_seconds": TIMEOUT,
    "send_timeout_seconds": TIMEOUT,
    "stream_max_buffered_events": 16,
}
# `slow`: a mock whose streamed call lasts 20 s and sends full-size previews from its 17th step on.
PROVIDERS = {
    "mock": {"adapter": "mock"},
    "slow": {
        "adapter": "mock",
        "max_concurrency": 4,
        "settings": {"latency_ms": 20000, "stream_steps": 100, "stream_previews": 100},
    },
}
MODELS = {
    "mock-image": {"deployments": [{"provider": "mock", "model": "mock-v1"}]},
    "mock-stream": {"deployments": [{"provider": "slow", "model": "mock-v1"}]},
}
GENERATE = "/api/v1/image/generate"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    text = routing_yaml(providers=PROVIDERS, models=MODELS, server=EDGE)
    with GatewayCluster(1, text, tmp_path_factory.mktemp("edge")) as cluster:
        yield cluster.gateways[0]


def connect(gateway: GatewayProcess, *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the advertised window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", gateway.port))
    return sock


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or the deadline passes (False)."""
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def healthz(gateway: GatewayProcess) -> int:
    return httpx.get(gateway.url + "/healthz", timeout=5).status_code


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def header_flood(gateway: GatewayProcess, total: int) -> tuple[int, int | None]:
    """Send one endless header block (1 KiB lines) until the server hangs up or `total` bytes went."""
    line = b"X-Pad: " + b"a" * 1017 + b"\r\n"
    chunk = line * 1024  # 1 MiB
    sent = 0
    with connect(gateway) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n")
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer, _ = read_until_closed(sock, time.monotonic() + 2)
    return sent, status_of(answer)


def test_header_flood_is_refused_and_memory_stays_flat(gateway: GatewayProcess) -> None:
    """4 connections each streaming a 64 MiB header block: each is refused (431) or cut after a few
    MiB of socket buffers, and the server's peak RSS stays within 100 MiB of where it started."""
    assert gateway.process is not None
    pid = gateway.process.pid
    before = vm_kib(pid, "VmRSS")
    with ThreadPoolExecutor(4) as pool:
        floods = list(pool.map(lambda _: header_flood(gateway, 64 * MIB), range(4)))
    peak = vm_kib(pid, "VmHWM")
    growth_mib = (peak - before) / 1024
    sent_mib = [round(sent / MIB, 1) for sent, _ in floods]
    assert growth_mib < 100, f"RSS grew {growth_mib:.0f} MiB (sent {sent_mib} MiB)"
    assert all(sent < 32 * MIB for sent, _ in floods), sent_mib
    assert {status for _, status in floods} <= {431, None}  # None: reset before the answer was read
    assert healthz(gateway) == 200
    figures.record(
        "edge: header flood",
        connections=4,
        offered_mib_each=64,
        sent_before_cut_mib=sent_mib,
        answers=[status for _, status in floods],
        rss_before_mib=round(before / 1024, 1),
        rss_peak_mib=round(peak / 1024, 1),
        growth_mib=round(growth_mib, 1),
    )


@pytest.mark.parametrize(
    ("shape", "fields"),
    [
        ("10,000 headers", [b"X-H%d: v" % i for i in range(10_000)]),
        ("500 small headers", [b"X-H%d: v" % i for i in range(500)]),  # 5 KB: under the byte cap
        ("one 40 KiB header", [b"X-Big: " + b"a" * 40 * 1024]),
    ],
)
def test_oversized_header_block_is_431_and_closed(
    gateway: GatewayProcess, shape: str, fields: list[bytes]
) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n" + b"".join(f + b"\r\n" for f in fields)
    with connect(gateway) as sock:
        sock.sendall(head + b"\r\n")
        answer, closed = read_until_closed(sock, time.monotonic() + 5)
    assert status_of(answer) == 431, (shape, answer[:200])
    assert b'"code":"invalid_request"' in answer and closed


@pytest.mark.parametrize(
    ("shape", "target", "fields"),
    [
        ("a 40 KiB request target", b"/healthz?q=" + b"a" * 40 * 1024, []),
        ("20 KiB target + a 20 KiB header", b"/healthz?q=" + b"a" * 20 * 1024, [b"X-Big: " + b"a" * 20 * 1024]),
    ],
)
def test_oversized_request_line_counts_against_the_header_cap(
    gateway: GatewayProcess, shape: str, target: bytes, fields: list[bytes]
) -> None:
    """`max_header_bytes` is the request line + headers: a long target sent in one write (which h11's
    incomplete-event limit never sees) is refused like a long header, not served."""
    head = b"GET " + target + b" HTTP/1.1\r\nHost: gateway.test\r\n" + b"".join(f + b"\r\n" for f in fields)
    with connect(gateway) as sock:
        sock.sendall(head + b"\r\n")
        answer, closed = read_until_closed(sock, time.monotonic() + 5)
    assert status_of(answer) == 431, (shape, answer[:200])
    assert b'"code":"invalid_request"' in answer and closed


@pytest.mark.parametrize("client", ["silent", "drip", "keep-alive drip"])
def test_slowloris_headers_are_cut(gateway: GatewayProcess, client: str) -> None:
    """Headers slower than server.header_timeout_seconds: 408 and closed within the timeout + margin
    (a silent connection, one byte every 0.25 s, and the same on a keep-alive connection's 2nd request)."""
    with connect(gateway) as sock:
        if client == "keep-alive drip":
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
            first = sock.recv(65536)
            assert status_of(first) == 200
        started = time.monotonic()
        deadline = started + SHED_BOUND
        answer, closed = b"", False
        payload = b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n" + b"X-Slow: 1\r\n" * 100
        for byte in payload if client != "silent" else []:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            answer, closed = read_until_closed(sock, min(deadline, time.monotonic() + 0.25))
            if closed or time.monotonic() > deadline:
                break
        if not closed:
            more, closed = read_until_closed(sock, deadline)
            answer += more
        elapsed = time.monotonic() - started
    assert closed, f"still open after {elapsed:.1f} s"
    assert elapsed < SHED_BOUND
    assert status_of(answer) in (408, None), answer[:200]  # None: a reset raced the answer
    figures.record(f"edge: slowloris ({client})", header_timeout_s=TIMEOUT, closed_after_s=round(elapsed, 2))


def test_slow_body_is_cut(gateway: GatewayProcess) -> None:
    """A 1000-byte body sent one byte every 0.25 s: 408 and closed after server.body_timeout_seconds."""
    with connect(gateway) as sock:
        sock.sendall(
            b"POST " + GENERATE.encode() + b" HTTP/1.1\r\nHost: gateway.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()
        answer, closed = b"", False
        for _ in range(1000):
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            answer, closed = read_until_closed(sock, time.monotonic() + 0.25)
            if closed or time.monotonic() - started > SHED_BOUND:
                break
        elapsed = time.monotonic() - started
    assert closed and elapsed < SHED_BOUND, f"closed={closed} after {elapsed:.1f} s"
    assert status_of(answer) in (408, None), answer[:200]
    figures.record("edge: slow body", body_timeout_s=TIMEOUT, closed_after_s=round(elapsed, 2))


def test_stream_client_that_never_reads_is_dropped_and_its_work_cancelled(gateway: GatewayProcess) -> None:
    """stream: true with a 4 KiB receive window and no reads: the server stops buffering events
    (stream_max_buffered_events), aborts the connection after send_timeout_seconds without progress,
    and cancels the upstream call: its lease is freed long before the call's own 20 s would end."""
    body = json.dumps(
        {
            "model": "mock-stream",
            "prompt": "never read",
            "n": 4,
            "width": 2048,
            "height": 2048,
            "stream": True,
        }
    ).encode()
    route = {"route": GENERATE}
    with connect(gateway, rcvbuf=4096) as sock:
        sock.sendall(
            b"POST " + GENERATE.encode() + b" HTTP/1.1\r\nHost: gateway.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        started = time.monotonic()
        assert wait_for(lambda: metric_sum(scrape(gateway.url), "imagegate_leases_in_use") == 1, 10)

        def dropped() -> bool:
            samples = scrape(gateway.url)
            return (
                metric_sum(samples, "imagegate_requests_in_flight", **route) == 0
                and metric_sum(samples, "imagegate_leases_in_use") == 0
            )

        # Bound < the mock's 20 s: only cancellation frees the lease this early.
        assert wait_for(dropped, 15), "the stalled stream is still being served"
        elapsed = time.monotonic() - started
    samples = scrape(gateway.url)
    send_timeouts = metric_sum(samples, "imagegate_edge_rejections_total", reason="send_timeout")
    overflows = metric_sum(samples, "imagegate_edge_rejections_total", reason="stream_overflow")
    assert send_timeouts >= 1
    assert metric_sum(samples, "imagegate_upstream_attempts_total", provider="slow", outcome="ok") == 0
    assert healthz(gateway) == 200
    figures.record(
        "edge: stalled stream reader",
        send_timeout_s=TIMEOUT,
        max_buffered_events=EDGE["stream_max_buffered_events"],
        dropped_after_s=round(elapsed, 2),
        send_timeouts=send_timeouts,
        stream_overflows=overflows,
    )


def test_more_connections_than_descriptors_keep_healthz_answering(tmp_path: Path) -> None:
    """A gateway with a hard limit of 256 open files and 300 idle connections: connections over the
    cap (lowered below the limit) get 503 and are closed at once, /healthz answers 200 or 503 while
    they are held, and 200 once the header timeout has shed them."""
    nofile, attackers = 256, 300
    with GatewayCluster(1, routing_yaml(server=EDGE), tmp_path, nofile=nofile) as cluster:
        gateway = cluster.gateways[0]
        socks = [connect(gateway) for _ in range(attackers)]
        try:
            started = time.monotonic()
            during: int | str
            try:
                during = healthz(gateway)
            except httpx.HTTPError as exc:
                during = type(exc).__name__
            answers = [read_until_closed(sock, started + SHED_BOUND) for sock in socks]
            shed_after = time.monotonic() - started
            after = healthz(gateway)
        finally:
            for sock in socks:
                sock.close()
        logs = cluster.logs()
    statuses = [status_of(answer) for answer, _ in answers]
    assert during in (200, 503), during
    assert all(closed for _, closed in answers), f"{sum(not c for _, c in answers)} still open"
    assert after == 200
    assert statuses.count(503) >= attackers - 128 - 10 and "lowered to 128" in logs
    figures.record(
        "edge: connection flood over the fd limit",
        nofile=nofile,
        connections=attackers,
        connection_cap=128,
        healthz_while_held=during,
        answered_503=statuses.count(503),
        answered_408=statuses.count(408),
        all_shed_after_s=round(shed_after, 2),
        healthz_after=after,
    )


def test_upgrade_requests_are_plain_http_and_not_logged(gateway: GatewayProcess) -> None:
    """No WebSocket routes: an Upgrade header is served as plain HTTP, without uvicorn's two WARNING
    lines per request (a cheap way to flood the log)."""
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    responses = [httpx.get(gateway.url + "/healthz", headers=headers, timeout=5) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert "Unsupported upgrade request" not in gateway.logs()


def test_body_timeout_after_an_early_answer_adds_nothing_to_it(gateway: GatewayProcess) -> None:
    """The app answers 415 before reading a body that never comes: the connection is closed at the
    body timeout, with the 415 as the only response on it (no stray 408 after a complete answer)."""
    with connect(gateway) as sock:
        sock.sendall(
            b"POST " + GENERATE.encode() + b" HTTP/1.1\r\nHost: gateway.test\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
        )
        answer, closed = read_until_closed(sock, time.monotonic() + SHED_BOUND)
    assert closed and status_of(answer) == 415
    assert answer.count(b"HTTP/1.1 ") == 1, answer
