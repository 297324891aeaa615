"""The concurrency gate the executor passes every upstream call through.

Nothing is sent upstream without a lease. The executor depends only on this Protocol; the
process-local implementation below serves the embedded default, and `gateway.limits.leases`
provides the Redis-backed one shared by all replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from gateway.errors import FailureClass, ProviderError


class ConcurrencyGate(Protocol):
    def lease(
        self, deployment: str, *, limit: int | None, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        """Hold one of `limit` slots for `deployment` while the body runs (None: unlimited).
        Raise ProviderError(CAPACITY) if no slot frees within `wait_seconds`."""
        ...


class LocalGate:
    """Per-process semaphores: correct for one replica, used when no Redis is configured."""

    def __init__(self) -> None:
        self._semaphores: dict[tuple[str, int], asyncio.Semaphore] = {}

    @asynccontextmanager
    async def lease(self, deployment: str, *, limit: int | None, wait_seconds: float) -> AsyncIterator[None]:
        if limit is None:
            yield
            return
        semaphore = self._semaphores.setdefault((deployment, limit), asyncio.Semaphore(limit))
        try:
            if wait_seconds <= 0:
                # No waiting: take a free slot now or fail (wait_for(timeout=0) would always time out,
                # and timeout=None would wait forever).
                if semaphore.locked():
                    raise TimeoutError
                await semaphore.acquire()  # returns at once: a slot is free
            else:
                await asyncio.wait_for(semaphore.acquire(), timeout=wait_seconds)
        except TimeoutError:
            raise ProviderError(
                deployment.split("/", 1)[0],
                FailureClass.CAPACITY,
                f"no concurrency lease for {deployment} in time",
            ) from None
        try:
            yield
        finally:
            semaphore.release()
