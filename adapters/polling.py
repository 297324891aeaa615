"""The one bounded wait loop adapters share: ask, settle, sleep, until done, the deadline, or too
many failed asks in a row.

Submit-then-poll providers (BFL, ComfyUI, next fal.ai) and result downloads that may 404 for a
moment after "ready" all need the same loop. Each ask is an idempotent GET, so a failed ask the
caller tolerates is simply asked again; the task that was submitted (and may be billed) is never
abandoned on the first hiccup and never submitted twice. This is not a retry of the provider call:
those happen only in gateway/routing/retry.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx

from gateway import upstream
from gateway.errors import FailureClass, ProviderError

A = TypeVar("A")
T = TypeVar("T")
Tolerated = Callable[[ProviderError], bool]
GiveUp = Callable[[ProviderError], ProviderError]

# The failures of one status ask that a submitted task survives (asked again, within max_errors).
ASK_AGAIN = frozenset(
    {FailureClass.CONNECT, FailureClass.AMBIGUOUS, FailureClass.TRANSIENT, FailureClass.RATE_LIMITED}
)


def ask_again(exc: ProviderError) -> bool:
    return exc.failure in ASK_AGAIN


@dataclass(frozen=True, slots=True)
class Pending:
    """`settle`'s answer while the work goes on; `progress` is the provider's 0..1 when it says."""

    progress: float | None = None


async def poll_until(
    ask: Callable[[], Awaitable[A]],
    settle: Callable[[A], T | Pending],
    *,
    provider: str,
    deadline: float,
    interval: float,
    max_errors: int,
    tolerated: Tolerated,
    give_up: GiveUp | None = None,
    progress: Callable[[float], None] | None = None,
) -> T:
    """`ask()` until `settle(answer)` is not Pending, sleeping `interval` (within `deadline`,
    monotonic) between asks; the settled value is returned.

    A ProviderError from `ask` that `tolerated` accepts is asked again, up to `max_errors` in a row
    (an answered ask resets the count); any other, or one too many, ends the wait: raised as is,
    or as `give_up(error)` when given. `settle` raises the provider's terminal failures (moderated,
    task failed): those are final and never asked again. `progress(fraction)` hears each Pending
    that carries one. A passed deadline raises DEADLINE before the next sleep."""
    errors = 0
    while True:
        try:
            answer = await ask()
        except ProviderError as exc:
            errors += 1
            if not tolerated(exc) or errors > max_errors:
                final = exc if give_up is None else give_up(exc)
                if final is exc:
                    raise
                raise final from exc
        else:
            errors = 0
            state = settle(answer)
            if not isinstance(state, Pending):
                return state
            if progress is not None and state.progress is not None:
                progress(state.progress)
        left = upstream.remaining_or_deadline(provider, deadline)
        await asyncio.sleep(min(interval, left))


def given_up(label: str, what: str) -> GiveUp:
    """`give_up` for a submitted task whose polling or result download failed: UPSTREAM_INVALID,
    so the billed submit is never retried, but the chain may fall back (spec/routing-policy.md,
    "BFL: polling or result download failed"); provider_code `polling_failed` and the like."""

    def wrap(exc: ProviderError) -> ProviderError:
        return ProviderError(
            exc.provider,
            FailureClass.UPSTREAM_INVALID,
            f"{label} {what} failed: {exc.message}",
            status=exc.status,
            provider_code=f"{what.replace(' ', '_')}_failed",
        )

    return wrap


def _ready(data: bytes) -> bytes:
    return data


async def download_until(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    policy: upstream.DownloadPolicy,
    *,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    max_errors: int,
    interval: float,
    deadline: float,
    give_up: GiveUp | None = None,
) -> bytes:
    """`upstream.download`, asked again on the failures `upstream.download_retryable` accepts (no
    response, or a status a CDN or ComfyUI's /view gives for a moment right after "ready")."""

    async def ask() -> bytes:
        return await upstream.download(client, provider, url, policy, params=params, auth=auth)

    return await poll_until(
        ask,
        _ready,
        provider=provider,
        deadline=deadline,
        interval=interval,
        max_errors=max_errors,
        tolerated=upstream.download_retryable,
        give_up=give_up,
    )
