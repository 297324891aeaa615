"""adapters/polling.py: the one bounded wait loop (BFL polls, ComfyUI /history, result downloads)."""

from __future__ import annotations

import time

import pytest

from adapters.polling import Pending, poll_until
from gateway.errors import FailureClass, ProviderError

F = FailureClass


def script(*steps: object) -> tuple[list[int], object]:
    """An `ask` that plays `steps` in order: a FailureClass raises, anything else is answered."""
    calls = [0]

    async def ask() -> object:
        step = steps[min(calls[0], len(steps) - 1)]
        calls[0] += 1
        if isinstance(step, FailureClass):
            raise ProviderError("p", step, f"ask {calls[0]}")
        return step

    return calls, ask


def settle(answer: object) -> object:
    return answer if answer == "done" else Pending(progress=answer if isinstance(answer, float) else None)


async def until(ask: object, **kw: object) -> object:
    options: dict[str, object] = {
        "provider": "p",
        "deadline": time.monotonic() + 30,
        "interval": 0.0,
        "max_errors": 2,
        "tolerated": lambda exc: exc.failure is F.TRANSIENT,
    }
    options.update(kw)
    return await poll_until(ask, settle, **options)  # type: ignore[arg-type]


async def test_pending_then_done_reports_progress() -> None:
    calls, ask = script(0.25, "pending", 0.5, "done")
    heard: list[float] = []
    assert await until(ask, progress=heard.append) == "done"
    assert calls[0] == 4 and heard == [0.25, 0.5]


async def test_tolerated_errors_up_to_max_in_a_row_and_an_answer_resets_the_count() -> None:
    calls, ask = script(F.TRANSIENT, F.TRANSIENT, "pending", F.TRANSIENT, F.TRANSIENT, "done")
    assert await until(ask) == "done"
    assert calls[0] == 6


async def test_one_error_too_many_gives_up_through_give_up() -> None:
    calls, ask = script(F.TRANSIENT)
    wrapped = ProviderError("p", F.UPSTREAM_INVALID, "given up", provider_code="polling_failed")
    with pytest.raises(ProviderError) as caught:
        await until(ask, give_up=lambda exc: wrapped)
    assert caught.value is wrapped and calls[0] == 3  # max_errors (2) tolerated, the 3rd ends it
    assert isinstance(caught.value.__cause__, ProviderError)


async def test_an_intolerable_error_ends_at_once_unchanged() -> None:
    calls, ask = script(F.CREDENTIAL)
    with pytest.raises(ProviderError) as caught:
        await until(ask)
    assert caught.value.failure is F.CREDENTIAL and calls[0] == 1


async def test_a_terminal_answer_from_settle_is_never_asked_again() -> None:
    calls, ask = script("moderated")

    def strict(answer: object) -> object:
        raise ProviderError("p", F.CONTENT_POLICY, "moderated")

    with pytest.raises(ProviderError) as caught:
        await poll_until(  # type: ignore[call-overload, misc]
            ask, strict, provider="p", deadline=time.monotonic() + 30, interval=0.0, max_errors=5,
            tolerated=lambda exc: True,
        )
    assert caught.value.failure is F.CONTENT_POLICY and calls[0] == 1


async def test_a_passed_deadline_ends_polling() -> None:
    calls, ask = script("pending")
    with pytest.raises(ProviderError) as caught:
        await until(ask, deadline=time.monotonic() - 1)
    assert caught.value.failure is F.DEADLINE and calls[0] == 1
