"""An admission bound: how many requests may be in the authenticating phase at once.

The phase from the IP limit to the account limit (signature check, nonce claim, GCRA calls) is CPU
work on the one event loop interleaved with Redis round trips that each have a 200-250 ms timeout.
Let 400 requests into it at once and the loop spends longer on signature checks than a Redis reply
may wait, so a healthy Redis looks dead. Bounding the phase keeps the loop's turn-around short;
requests beyond the bound wait (no Redis timer runs while they wait), and a request that cannot be
admitted within `wait_seconds`, or arrives to a full queue, is shed with 503 `service_unavailable`
and Retry-After: the spec's code for a gateway that cannot serve right now (it has no `overloaded`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.config.limits import AdmissionConfig
from gateway.errors import ServiceUnavailable
from gateway.metrics import OVERLOAD_SHED

OVERLOAD_RETRY_AFTER_S = 1.0


class Overloaded(ServiceUnavailable):
    """503 service_unavailable: this process is at capacity (never a claim about Redis)."""


def overloaded(reason: str) -> Overloaded:
    OVERLOAD_SHED.labels(reason).inc()
    return Overloaded("the gateway is at capacity; retry shortly", retry_after=OVERLOAD_RETRY_AFTER_S)


class Admission:
    def __init__(self) -> None:
        self._size = 0
        self._semaphore = asyncio.Semaphore(1)
        self._waiting = 0

    @asynccontextmanager
    async def slot(self, config: AdmissionConfig) -> AsyncIterator[None]:
        semaphore = self._current(config.max_concurrent)  # a reload resizes for the next requests
        if semaphore.locked() and self._waiting >= config.max_queue:
            raise overloaded("admission_queue")
        self._waiting += 1
        try:
            async with asyncio.timeout(config.wait_seconds):
                await semaphore.acquire()
        except TimeoutError:
            raise overloaded("admission_wait") from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            semaphore.release()

    def _current(self, size: int) -> asyncio.Semaphore:
        if size != self._size:
            self._size, self._semaphore = size, asyncio.Semaphore(size)
        return self._semaphore
