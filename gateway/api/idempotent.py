"""The HTTP side of Idempotency-Key (gateway/idempotency.py holds the claim): every generating
endpoint wraps its work in `idempotent(...)` after `admit` took the claim.

    no key            the work runs, nothing is kept
    replay            the stored answer, `Idempotent-Replayed: true`, no provider call
    first use         the work runs; its final answer is kept for `idempotency.ttl_seconds`:
      Response        status, body and the headers that matter (content type, X-Provider,
                      X-Image-Seed, X-Imagegate-Warnings, Location, Preference-Applied)
      Stream (SSE)    the `completed` frame(s) (OpenAI: every `image_generation.completed`): a
                      replay is a short stream of just those; a stream that ends with `error` or
                      is cut by the client keeps nothing (no image reached anyone)
      GatewayError    kept when a provider was reached (`provider_reached`: e.g. 502 after the
                      provider failed, 504 unknown outcome, a content-policy refusal, storage_error);
                      released otherwise (validation, capability checks, 429 / 503 retry-later), so
                      the client may fix and retry under the same key
      cancelled       (client gone) released: the work was stopped with the request
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

from litestar import Response
from litestar.response import Stream

from gateway.errors import GatewayError
from gateway.idempotency import REPLAYED_HEADER, Claim, Idempotency, Record, error_record, replayed_error
from gateway.services import Services
from gateway.streaming.response import SSE_HEADERS

KEPT_HEADERS = ("x-provider", "x-image-seed", "x-imagegate-warnings", "location", "preference-applied")
Answer = Response[bytes] | Stream


async def idempotent(services: Services, claim: Claim | None, produce: Callable[[], Awaitable[Answer]]) -> Answer:
    """Run `produce` under `claim` (see the module docstring); `claim` None: no Idempotency-Key."""
    if claim is None:
        return await produce()
    if claim.replay is not None:
        return replay(claim.replay)
    idempotency: Idempotency = services.idempotency
    config = services.runtime.config.idempotency
    try:
        answer = await produce()
    except GatewayError as exc:
        if exc.provider_reached:
            await asyncio.shield(idempotency.complete(claim, error_record(claim, exc), config))
        else:
            await asyncio.shield(idempotency.release(claim))
        raise
    except BaseException:
        await asyncio.shield(idempotency.release(claim))
        raise
    if isinstance(answer, Stream):
        answer.iterator = _capture(answer.iterator, claim, services)
        return answer
    body = answer.content if isinstance(answer.content, bytes) else b""
    headers = [(k, str(v)) for k, v in answer.headers.items() if k.lower() in KEPT_HEADERS]
    record = Record(
        "done", claim.fingerprint, status=answer.status_code or 200,
        media_type=str(answer.media_type or "application/json"), headers=headers, body=body,
    )  # fmt: skip
    await asyncio.shield(idempotency.complete(claim, record, config))
    return answer


def replay(record: Record) -> Answer:
    if record.kind == "error":
        raise replayed_error(record)
    headers = dict(record.headers) | {REPLAYED_HEADER: "true"}
    if record.kind == "sse":
        return Stream(_once(record.body), media_type="text/event-stream", headers=headers | SSE_HEADERS)
    return Response(content=record.body, status_code=record.status, media_type=record.media_type, headers=headers)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _is_completed(frame: bytes) -> bool:
    for line in frame.split(b"\n", 3)[:3]:
        if line.startswith(b"event: "):
            name = line[7:].strip()
            return name == b"completed" or name.endswith(b".completed")
    return False


async def _capture(source: object, claim: Claim, services: Services) -> AsyncIterator[bytes]:
    """Pass the SSE frames through; on a normal end after a `completed` frame, keep those frames."""
    config = services.runtime.config.idempotency
    kept: list[bytes] = []
    size = 0
    completed = False
    finished = False
    assert isinstance(source, AsyncIterable), "the SSE responders stream from an async iterator"
    try:
        async for chunk in source:
            data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            if _is_completed(data):
                completed = True
                size += len(data)
                if size <= config.max_response_bytes:
                    kept.append(data)
            yield data
        finished = True
    finally:
        if finished and completed:
            record = (
                Record("done", claim.fingerprint, kind="sse", status=200, body=b"".join(kept))
                if size <= config.max_response_bytes
                else Record("oversize", claim.fingerprint)
            )
            await asyncio.shield(services.idempotency.complete(claim, record, config))
        else:
            await asyncio.shield(services.idempotency.release(claim))
