"""gateway/edge.py and the `server:` edge settings: caps, config errors, what `--workers` pickles."""

from __future__ import annotations

import pickle
import resource

import pytest

from gateway.config import ConfigError, ServerConfig, parse_config
from gateway.edge import EdgeProtocol, connection_cap, raise_fd_limit, uvicorn_options

BASE = """
providers:
  mock: {adapter: mock}
models:
  mock-image: {deployments: [{provider: mock, model: mock-v1}]}
auth: {enabled: false}
"""


@pytest.mark.parametrize(
    ("configured", "fd_limit", "cap"),
    [(1000, 1_048_576, 1000), (1000, 1024, 512), (1000, 256, 128), (100, 256, 100), (1000, 1, 1)],
)
def test_connection_cap_stays_below_the_descriptor_limit(configured: int, fd_limit: int, cap: int) -> None:
    assert connection_cap(configured, fd_limit) == cap


def test_fd_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no finite hard limit to raise to")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        assert raise_fd_limit() == hard == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_uvicorn_options_survive_the_trip_to_a_worker_process() -> None:
    """`--workers N` pickles uvicorn's Config (spawn): the protocol factory must pickle too."""
    options = uvicorn_options(ServerConfig(header_timeout_seconds=2.5, max_header_count=50))
    factory = pickle.loads(pickle.dumps(options["http"]))
    assert factory.func is EdgeProtocol
    assert factory.keywords["limits"].header_timeout == 2.5
    assert factory.keywords["limits"].max_header_count == 50
    assert options["h11_max_incomplete_event_size"] == 32768 and options["ws"] == "none"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("send_timeout_seconds", 0),
        ("header_timeout_seconds", 1e300),  # an OverflowError in the event loop, not "no timeout"
        ("max_header_bytes", 100),
        ("max_connections", 0),
        ("stream_max_buffered_events", 0),
    ],
)
def test_out_of_range_edge_settings_name_their_path(setting: str, value: float) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(BASE + f"server: {{{setting}: {value}}}\n")
    assert error.value.path == f"server.{setting}"
