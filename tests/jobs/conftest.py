"""Fixtures for the multi-process job tests: the reliability suite's fake provider and Redis."""

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
def own_redis() -> Iterator[ControlledRedis]:
    server = ControlledRedis(free_port()).start()
    try:
        yield server
    finally:
        server.stop()
