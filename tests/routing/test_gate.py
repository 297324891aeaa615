"""LocalGate: limits in-flight calls; wait_seconds=0 means "now or never", not "forever"."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import FailureClass, ProviderError
from gateway.routing.gate import LocalGate


async def test_zero_wait_takes_a_free_slot_and_fails_fast_when_full() -> None:
    gate = LocalGate()
    async with gate.lease("p/m", limit=1, wait_seconds=0):
        with pytest.raises(ProviderError) as caught:
            # bounded by wait_for only so a regression fails instead of hanging the suite
            await asyncio.wait_for(_enter(gate, 0), timeout=5)
        assert caught.value.failure is FailureClass.CAPACITY and caught.value.provider == "p"
    await asyncio.wait_for(_enter(gate, 0), timeout=5)  # released: free again


async def test_waiter_gets_the_slot_when_it_frees() -> None:
    gate = LocalGate()
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.lease("p/m", limit=1, wait_seconds=0):
            await release.wait()

    task = asyncio.ensure_future(holder())
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(_enter(gate, 30))
    await asyncio.sleep(0)
    assert not waiter.done()
    release.set()
    await asyncio.wait_for(waiter, timeout=5)
    await task


async def _enter(gate: LocalGate, wait: float) -> None:
    async with gate.lease("p/m", limit=1, wait_seconds=wait):
        pass
