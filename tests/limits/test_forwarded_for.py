"""Issue 13 item 6: X-Forwarded-For sent as several field lines, to a real `imagegate serve`.

A proxy may append its hop as a new field line (HAProxy's `option forwardfor` does) instead of
extending the client's line. RFC 9110 5.3: repeated lines are one comma-joined list. A gateway that
reads only the first line reads the client's own forgery, and the IP limit never holds.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.reliability.cluster import GatewayCluster
from tests.reliability.scenario import routing_yaml

pytestmark = pytest.mark.reliability
# The test's socket plays the proxy. A real `imagegate serve` (uvicorn's own proxy-header handling
# is off there; an in-thread uvicorn with defaults would rewrite the peer and hide the bug).
LIMITS = {"trusted_proxies": ["127.0.0.0/8"], "ip": {"rate": 1, "period_seconds": 3600, "burst": 2}}
BODY = json.dumps({"model": "mock-image", "prompt": "a lighthouse", "width": 64, "height": 64}).encode()


def _post(port: int, header_lines: list[str]) -> int:
    """One POST over a raw socket, so the header block is exactly what a proxy would forward."""
    head = [
        "POST /api/v1/image/generate HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(BODY)}",
        "Connection: close",
        *header_lines,
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + BODY)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("xff")
    with GatewayCluster(1, routing_yaml(limits=LIMITS), workdir) as cluster:
        yield cluster.gateways[0].port


def test_a_forged_first_line_does_not_escape_the_ip_limit(port: int) -> None:
    # The client forges a fresh address on every request; the proxy appends the real one on its own line.
    statuses = [
        _post(port, [f"X-Forwarded-For: 6.6.6.{i}", "X-Forwarded-For: 198.51.100.7"]) for i in range(4)
    ]
    assert statuses == [200, 200, 429, 429]


def test_lines_and_commas_are_one_list(port: int) -> None:
    # Same real client, its hop once in a comma list and once on a separate line: one bucket.
    assert _post(port, ["X-Forwarded-For: 6.6.6.6, 198.51.100.8"]) == 200
    assert _post(port, ["X-Forwarded-For: 7.7.7.7", "X-Forwarded-For: 198.51.100.8"]) == 200
    assert _post(port, ["X-Forwarded-For: 8.8.8.8", "x-forwarded-for: 198.51.100.8"]) == 429
