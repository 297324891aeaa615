"""Fixtures of the reliability suite: a fault-injecting fake upstream and a Redis the test controls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.cluster import ControlledRedis
from tests.reliability.fake_upstream import FakeUpstream
from tests.support.redis_server import free_port


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture
def controlled_redis() -> Iterator[ControlledRedis]:
    """Our own redis-server for one test (never the machine's 6379): the test may pause or kill it."""
    server = ControlledRedis(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def second_upstream() -> Iterator[FakeUpstream]:
    """Another fake provider (the fallback deployment in fallback scenarios)."""
    upstream = FakeUpstream().start()
    try:
        yield upstream
    finally:
        upstream.stop()
