"""adapters.streams.with_updates: side-channel updates, then the result; closing cancels the call."""

from __future__ import annotations

import asyncio

import pytest

from adapters.streams import Report, progress_fraction, with_updates
from gateway.canonical import ProgressUpdate, ProviderResult
from gateway.errors import FailureClass, ProviderError

RESULT = ProviderResult(images=[], raw={"ok": True})


async def test_updates_then_result() -> None:
    async def call(report: Report) -> ProviderResult:
        for step in (1, 2):
            report(ProgressUpdate(step=step, total_steps=2))
            await asyncio.sleep(0)
        report(ProgressUpdate(step=3, total_steps=3))  # reported in the same tick as the return
        return RESULT

    assert [u async for u in with_updates(call)] == [
        ProgressUpdate(step=1, total_steps=2),
        ProgressUpdate(step=2, total_steps=2),
        ProgressUpdate(step=3, total_steps=3),
        RESULT,
    ]


async def test_failure_is_raised_after_the_updates() -> None:
    async def call(report: Report) -> ProviderResult:
        report(ProgressUpdate(step=1))
        raise ProviderError("p", FailureClass.TRANSIENT, "boom")

    seen = []
    with pytest.raises(ProviderError):
        async for update in with_updates(call):
            seen.append(update)
    assert seen == [ProgressUpdate(step=1)]


async def test_closing_the_iterator_cancels_the_call() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def call(report: Report) -> ProviderResult:
        report(ProgressUpdate(step=0))
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return RESULT

    updates = with_updates(call)
    assert await anext(updates) == ProgressUpdate(step=0)
    await started.wait()
    await updates.aclose()
    assert cancelled.is_set()


def test_progress_fraction() -> None:
    assert progress_fraction(0.4) == ProgressUpdate(step=40, total_steps=100)
    assert progress_fraction(1.7).step == 100 and progress_fraction(-1).step == 0
