"""A small bounded load driver: K requests, C at a time, spread over gateway URLs; every outcome kept."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

GENERATE = "/api/v1/image/generate"


@dataclass
class Outcome:
    index: int
    status: int  # 0: transport error at the client
    code: str | None  # error.code when the body is an error
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    transport_error: str | None = None


@dataclass
class LoadReport:
    outcomes: list[Outcome]
    wall_seconds: float

    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)

    def codes(self) -> Counter[str | None]:
        return Counter(o.code for o in self.outcomes)

    def percentile(self, q: float) -> float:
        values = sorted(o.seconds for o in self.outcomes)
        return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    @property
    def max_seconds(self) -> float:
        return max((o.seconds for o in self.outcomes), default=0.0)


def body_for(
    index: int, *, model: str = "mock-image", tag: str = "req", **extra: object
) -> dict[str, object]:
    """A small request whose prompt is unique per index, so the fake upstream can count its submits."""
    return {"model": model, "prompt": f"{tag}-{index}", "width": 64, "height": 64, **extra}


async def run_load(
    urls: Sequence[str],
    total: int,
    concurrency: int,
    make_body: Callable[[int], dict[str, object]],
    *,
    headers: Callable[[int], dict[str, str]] | None = None,
    timeout: float = 30.0,
    keep_body: bool = False,
) -> LoadReport:
    """Send `total` POSTs to the generate route, `concurrency` at a time, round-robin over `urls`."""
    queue = iter(range(total))
    targets = itertools.cycle(urls)
    route = {i: next(targets) for i in range(total)}
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            for index in queue:
                extra = headers(index) if headers else {}
                outcomes.append(await _one(client, route[index], index, make_body(index), extra, keep_body))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadReport(sorted(outcomes, key=lambda o: o.index), time.monotonic() - started)


async def _one(
    client: httpx.AsyncClient,
    url: str,
    index: int,
    body: dict[str, object],
    headers: dict[str, str],
    keep: bool,
) -> Outcome:
    started = time.monotonic()
    try:
        response = await client.post(url + GENERATE, json=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(index, 0, None, time.monotonic() - started, transport_error=type(exc).__name__)
    elapsed = time.monotonic() - started
    code = None
    if response.status_code >= 400:
        try:
            code = json.loads(response.content)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "<unstructured>"
    return Outcome(
        index,
        response.status_code,
        code,
        elapsed,
        dict(response.headers),
        response.content if keep or response.status_code >= 400 else b"",
    )
