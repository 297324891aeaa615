"""Jobs in Redis, shared by every replica (through the process's one guarded backend).

    ig:job:{<id>}       hash: spec (JSON), status, updated, owner, lease, cancel, seq, call:<shard>
    ig:job:{<id>}:ev    stream of events with ids 0-1, 0-2, ... (the SSE ids), fields n (name), d (JSON)
    ig:job:{<id>}:wh    list: the webhook delivery log
    ig:jobs:active      sorted set: unfinished job ids scored by lease expiry (the reapers' index)

The braces are a cluster hash tag: one job's keys share a slot, so each script touches one slot;
the active set is written by separate single-key commands. Runner writes are Lua scripts fenced by
the owner id. Keys expire `jobs.ttl_seconds` after the job ends (and, while it runs, after
`max_age_seconds + ttl_seconds`), so nothing here lives forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from gateway.jobs.model import CallRecord, JobSpec, JobState, WebhookAttempt
from gateway.jobs.store import JobGone, JobStore, StoredEvent
from gateway.redis import RedisBackend, RedisClient

T = TypeVar("T")
ACTIVE = "ig:jobs:active"
_TERMINAL = "local terminal = {completed=true, partial=true, failed=true, canceled=true}\n"
_OWNED = "if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 'LOST' end\n"
_APPEND = (
    _OWNED
    + """
if tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') >= tonumber(ARGV[2]) then
  return 'LOST'
end
redis.call('HSET', KEYS[1], 'seq', ARGV[2])
redis.call('XADD', KEYS[2], '0-' .. ARGV[2], 'n', ARGV[3], 'd', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
)
_SET_STATUS = (
    _TERMINAL
    + _OWNED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if terminal[status] then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3])
return ARGV[2]
"""
)
_SET_CALL = _OWNED + "redis.call('HSET', KEYS[1], 'call:' .. ARGV[2], ARGV[3])\nreturn 1\n"
_HEARTBEAT = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 'lost' end
redis.call('HSET', KEYS[1], 'lease', ARGV[2])
if redis.call('HGET', KEYS[1], 'cancel') == '1' then return 'cancel' end
return 'ok'
"""
_CANCEL = (
    _TERMINAL
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if terminal[status] then return status end
redis.call('HSET', KEYS[1], 'cancel', '1', 'status', 'canceled', 'updated', ARGV[1])
return 'canceled'
"""
)
_FINISH = (
    _TERMINAL
    + _OWNED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not terminal[status] then status = ARGV[2] end
redis.call('HSET', KEYS[1], 'status', status, 'updated', ARGV[3], 'lease', '0', 'finished', '1')
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ARGV[4]) end
return status
"""
)
_CLAIM = """
local lease = redis.call('HGET', KEYS[1], 'lease')
if not lease or redis.call('HGET', KEYS[1], 'finished') == '1' then return -1 end
if tonumber(lease) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease', ARGV[3])
return 1
"""


def _key(job_id: str) -> str:
    return f"ig:job:{{{job_id}}}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisJobStore(JobStore):
    kind = "redis"

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self._append = backend.register_script(_APPEND)
        self._set_status = backend.register_script(_SET_STATUS)
        self._set_call = backend.register_script(_SET_CALL)
        self._heartbeat = backend.register_script(_HEARTBEAT)
        self._cancel = backend.register_script(_CANCEL)
        self._finish = backend.register_script(_FINISH)
        self._claim = backend.register_script(_CLAIM)

    async def _call(self, action: Callable[[RedisClient], Awaitable[T]]) -> T:
        return await self._backend.call("jobs", action, component="store")

    async def _owned(self, action: Callable[[RedisClient], Awaitable[Any]], job_id: str) -> Any:
        """A fenced script: LOST (not the owner, or the sequence moved on) is JobGone. An answer,
        not a Redis error: losing a job says nothing about Redis' health (the breaker)."""
        answer = await self._call(action)
        if _text(answer) == "LOST":
            raise JobGone(job_id)
        return answer

    async def create(self, spec: JobSpec, *, owner: str, lease_until: float, ttl_seconds: int) -> None:
        key = _key(spec.id)
        fields: dict[
            str | bytes | bytearray | memoryview | int | float,
            str | bytes | bytearray | memoryview | int | float,
        ] = {
            "spec": msgspec.json.encode(spec),
            "status": "queued",
            "updated": spec.created,
            "owner": owner,
            "lease": repr(lease_until),
            "seq": 0,
        }

        async def action(client: RedisClient) -> None:
            await client.hset(key, mapping=fields)
            await client.expire(key, ttl_seconds)
            await client.zadd(ACTIVE, {spec.id: lease_until})

        await self._call(action)

    async def get(self, job_id: str) -> JobState | None:
        key = _key(job_id)

        async def action(client: RedisClient) -> tuple[list[Any], list[Any]]:
            fields = await client.hmget(key, ["spec", "status", "updated", "owner", "lease", "cancel"])
            deliveries = await client.lrange(f"{key}:wh", 0, -1)
            return fields, deliveries

        fields, deliveries = await self._call(action)
        spec, status, updated, owner, lease, cancel = fields
        if spec is None or status is None:
            return None
        return JobState(
            spec=msgspec.json.decode(spec, type=JobSpec),
            status=_text(status),
            updated=int(_text(updated or "0")),
            owner=_text(owner or ""),
            lease_until=float(_text(lease or "0")),
            cancel=_text(cancel or "") == "1",
            deliveries=[msgspec.json.decode(item, type=WebhookAttempt) for item in deliveries],
        )

    async def set_status(self, job_id: str, owner: str, status: str, now: int) -> str:
        key = _key(job_id)
        answer = await self._owned(
            lambda c: self._set_status(keys=[key], args=[owner, status, now], client=c), job_id
        )
        return _text(answer)

    async def append(self, job_id: str, owner: str, event: StoredEvent, ttl_seconds: int) -> None:
        key = _key(job_id)
        args: list[str | bytes | int] = [owner, event.seq, event.name, event.data, ttl_seconds]
        await self._owned(lambda c: self._append(keys=[key, f"{key}:ev"], args=args, client=c), job_id)

    async def events(self, job_id: str, after: int, count: int) -> list[StoredEvent]:
        stream = f"{_key(job_id)}:ev"
        entries = await self._call(lambda c: c.xrange(stream, f"(0-{after}", "+", count=count)) or []
        return [_event(entry_id, fields) for entry_id, fields in entries]

    async def last_event(self, job_id: str) -> StoredEvent | None:
        stream = f"{_key(job_id)}:ev"
        entries = await self._call(lambda c: c.xrevrange(stream, "+", "-", count=1)) or []
        return _event(*entries[0]) if entries else None

    async def set_call(self, job_id: str, owner: str, shard: int, call: CallRecord) -> None:
        key, data = _key(job_id), msgspec.json.encode(call)
        await self._owned(lambda c: self._set_call(keys=[key], args=[owner, shard, data], client=c), job_id)

    async def calls(self, job_id: str) -> dict[int, CallRecord]:
        key = _key(job_id)
        names = await self._call(lambda c: c.hkeys(key))
        wanted = [name for name in map(_text, names) if name.startswith("call:")]
        if not wanted:
            return {}
        values = await self._call(lambda c: c.hmget(key, wanted))
        return {
            int(name[5:]): msgspec.json.decode(value, type=CallRecord)
            for name, value in zip(wanted, values, strict=True)
            if value is not None
        }

    async def heartbeat(self, job_id: str, owner: str, lease_until: float) -> str:
        key = _key(job_id)
        answer = _text(
            await self._call(lambda c: self._heartbeat(keys=[key], args=[owner, repr(lease_until)], client=c))
        )
        if answer != "lost":
            await self._call(lambda c: c.zadd(ACTIVE, {job_id: lease_until}, xx=True))
        return answer

    async def cancel(self, job_id: str, now: int) -> str | None:
        key = _key(job_id)
        answer = await self._call(lambda c: self._cancel(keys=[key], args=[now], client=c))
        return None if answer is None else _text(answer)

    async def finish(self, job_id: str, owner: str, status: str, now: int, ttl_seconds: int) -> str:
        key = _key(job_id)
        keys = [key, f"{key}:ev", f"{key}:wh"]
        answer = await self._owned(
            lambda c: self._finish(keys=keys, args=[owner, status, now, ttl_seconds], client=c), job_id
        )
        await self._call(lambda c: c.zrem(ACTIVE, job_id))
        return _text(answer)

    async def expired(self, now: float, limit: int) -> list[str]:
        found = await self._call(lambda c: c.zrangebyscore(ACTIVE, "-inf", now, start=0, num=limit))
        return [_text(item) for item in found]

    async def claim(self, job_id: str, owner: str, now: float, lease_until: float) -> bool:
        key = _key(job_id)
        args = [owner, repr(now), repr(lease_until)]
        won = int(await self._call(lambda c: self._claim(keys=[key], args=args, client=c)))
        if won == 1:
            await self._call(lambda c: c.zadd(ACTIVE, {job_id: lease_until}))
        elif won == -1:  # finished (its owner is removing it) or expired: nothing to take over
            await self._call(lambda c: c.zrem(ACTIVE, job_id))
        return won == 1

    async def add_delivery(self, job_id: str, delivery: WebhookAttempt, ttl_seconds: int) -> None:
        key = f"{_key(job_id)}:wh"
        data = msgspec.json.encode(delivery)

        async def action(client: RedisClient) -> None:
            await client.rpush(key, data)
            await client.ltrim(key, -100, -1)
            await client.expire(key, ttl_seconds, nx=True)

        await self._call(action)


def _event(entry_id: object, fields: Any) -> StoredEvent:
    seq = int(_text(entry_id).split("-", 1)[1])
    name = fields.get(b"n", fields.get("n"))
    data = fields.get(b"d", fields.get("d"))
    return StoredEvent(seq, _text(name), data if isinstance(data, bytes) else str(data).encode())
