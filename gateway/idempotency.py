"""Idempotency-Key (spec/jobs.md): one atomic claim per (account, route, key), the final response
kept for `idempotency.ttl_seconds` and replayed, never a second provider call.

    claim      SET <id> <running record> NX GET PX in_flight   (StateStore.set_nx_get: one Redis
               command across replicas; the in-memory twin does the same without an await;
               in_flight: the request's deadline + 60 s, or `idempotency.in_flight_seconds`)
      unset          -> this request owns the key and runs
      running        -> 409 idempotency_in_progress + Retry-After
      other body     -> 422 idempotency_key_mismatch (checked first, so a different body never
                        learns whether the first is done)
      done           -> the stored response, `Idempotent-Replayed: true`
      oversize       -> 409 idempotency_replay_unavailable (it ran; its response was too large to keep)
    complete   SET <id> <done record> PX ttl                   (the final response, bounded)
    release    DEL <id>                                        (failed before any provider call)

<id> is `ig:idem:` + SHA-256(account, route, key): scoped per account (another account's key is a
different record), bounded in length whatever the key, and no key text is stored in clear.
The fingerprint is SHA-256 of the decoded request (msgspec JSON with sorted keys), so key order and
whitespace in the body do not matter. The HTTP side (capturing and replaying responses) is
gateway/api/idempotent.py.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Sequence
from typing import Literal

import msgspec

from gateway.config.idempotency import IdempotencyConfig
from gateway.errors import (
    GatewayError,
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyReplayUnavailable,
    InvalidRequest,
    ServiceUnavailable,
)
from gateway.metrics import IDEMPOTENT_REPLAYS
from gateway.state.base import StateStore, StoreUnavailable

log = logging.getLogger("imagegate.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # 1..255 visible ASCII (no space, no control characters)
RETRY_AFTER_SECONDS = 2.0
Kind = Literal["response", "error", "sse"]


class Record(msgspec.Struct, frozen=True, array_like=True):
    """What the store holds under one key (msgpack)."""

    state: Literal["running", "done", "oversize"]
    fingerprint: str
    kind: Kind = "response"
    status: int = 0
    media_type: str = ""
    headers: list[tuple[str, str]] = []
    body: bytes = b""  # response body, SSE terminal frame, or the error's message
    code: str = ""  # errors: the error code
    param: str | None = None  # errors: the field
    token: str = ""  # running: which claim holds the key (complete / release check it)


_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder(Record).decode


def key_from_headers(values: Sequence[str]) -> str | None:
    """The request's Idempotency-Key, None when absent; 400 (param `Idempotency-Key`) when it is
    not 1..255 visible ASCII characters or is sent more than once."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest("send one Idempotency-Key header", param=HEADER)
    if not _KEY.match(values[0]):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 visible ASCII characters", param=HEADER)
    return values[0]


def fingerprint(*parts: object) -> str:
    """SHA-256 of the decoded request parts (msgspec-encodable), keys sorted."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(msgspec.json.encode(part, order="sorted"))
        digest.update(b"\x00")
    return digest.hexdigest()


class Claim(msgspec.Struct, frozen=True):
    """A claim on one key: this request runs (`replay` None) or answers with `replay`."""

    record_id: str
    fingerprint: str
    route: str
    replay: Record | None = None
    token: str = ""


class Idempotency:
    """Claims, completes and releases keys in the process's StateStore (Redis or memory)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._memory: dict[str, tuple[int, float]] = {}  # record id -> (bytes, expires) when in memory

    async def claim(
        self, key: str, *, account: str, route: str, fingerprint: str, config: IdempotencyConfig,
        deadline_seconds: float = 120.0,
    ) -> Claim:  # fmt: skip
        """Claim `key` for a request that may run `deadline_seconds` (the claim holds a little longer)."""
        scope = hashlib.sha256(f"{account}\x00{route}\x00{key}".encode()).hexdigest()
        record_id = f"ig:idem:{scope}"
        token = secrets.token_hex(8)
        running = _ENCODE(Record("running", fingerprint, token=token))
        try:
            previous = await self.store.set_nx_get(record_id, running, ttl_ms=config.in_flight_ms(deadline_seconds))
        except StoreUnavailable as exc:  # fail closed: without the store, exactly-once cannot hold
            raise ServiceUnavailable(
                "the idempotency store is unavailable; retry later", retry_after=RETRY_AFTER_SECONDS
            ) from exc
        if previous is None:
            return Claim(record_id, fingerprint, route, token=token)
        record = _DECODE(previous)
        if record.fingerprint != fingerprint:
            IDEMPOTENT_REPLAYS.labels(route, "mismatch").inc()
            raise IdempotencyKeyMismatch(
                "this Idempotency-Key was used with a different request body", param=HEADER
            )
        if record.state == "running":
            IDEMPOTENT_REPLAYS.labels(route, "in_progress").inc()
            raise IdempotencyInProgress(
                "a request with this Idempotency-Key is still running; retry later",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if record.state == "oversize":
            IDEMPOTENT_REPLAYS.labels(route, "unavailable").inc()
            raise IdempotencyReplayUnavailable(
                "the request with this Idempotency-Key completed, but its response was larger than "
                "idempotency.max_response_bytes and was not kept; it will not run again under this key"
            )
        IDEMPOTENT_REPLAYS.labels(route, "replayed").inc()
        return Claim(record_id, fingerprint, route, replay=record)

    async def complete(self, claim: Claim, record: Record, config: IdempotencyConfig) -> None:
        """Keep the final response for the TTL (or an `oversize` marker when it is over the cap)."""
        size = len(record.body) + sum(len(k) + len(v) for k, v in record.headers)
        if size > config.max_response_bytes or not self._fits_memory(claim.record_id, size, config):
            log.warning("idempotent response of %d bytes not kept (over the cap)", size)
            record = Record("oversize", claim.fingerprint)
        try:
            if await self._taken_over(claim):
                return
            await self.store.set(claim.record_id, _ENCODE(record), ttl_ms=config.ttl_seconds * 1000)
        except StoreUnavailable as exc:  # the answer still goes out; the claim lapses after in_flight
            log.warning("idempotent response not stored: %s", exc)

    async def release(self, claim: Claim) -> None:
        """Forget the claim: the request failed before any provider call; the key may be used again."""
        try:
            if not await self._taken_over(claim):
                await self.store.delete(claim.record_id)
        except StoreUnavailable as exc:
            log.warning("idempotency claim not released: %s", exc)

    async def _taken_over(self, claim: Claim) -> bool:
        """True when the claim lapsed (`in_flight_seconds`) and another request holds the key now:
        its record is left alone. (A read before the write: the window is one round trip, and only
        after a claim outlived `in_flight_seconds`, which the config keeps above every deadline.)"""
        current = await self.store.get(claim.record_id)
        if current is None:
            return False
        held = _DECODE(current)
        taken = held.state != "running" or held.token != claim.token
        if taken:
            log.warning("idempotency claim lapsed before its request ended; the newer record is kept")
        return taken

    def _fits_memory(self, record_id: str, size: int, config: IdempotencyConfig) -> bool:
        """The embedded store holds responses in this process: their total is bounded too."""
        if self.store.kind != "memory":
            return True
        now = time.monotonic()
        for stale in [rid for rid, (_, expires) in self._memory.items() if expires <= now]:
            del self._memory[stale]
        used = sum(held for held, _ in self._memory.values())
        if used + size > config.memory_max_bytes:
            return False
        self._memory[record_id] = (size, now + config.ttl_seconds)
        return True


def error_record(claim: Claim, exc: GatewayError) -> Record:
    headers = [(name, value) for name, value in exc.headers.items() if name.lower() != "retry-after"]
    return Record(
        "done", claim.fingerprint, kind="error", status=exc.status_code, headers=headers,
        body=exc.message.encode(), code=exc.error_code, param=exc.param,
    )  # fmt: skip


def replayed_error(record: Record) -> GatewayError:
    """The stored error, raised again so the route's own handler renders it in its shape."""
    cls = type("ReplayedError", (GatewayError,), {"status_code": record.status, "code": record.code})
    headers = dict(record.headers) | {REPLAYED_HEADER: "true"}
    error: GatewayError = cls(record.body.decode(), param=record.param, headers=headers)
    return error
