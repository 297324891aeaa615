"""The budget ledger in Redis: one atomic Lua script per step (see store.py for the rules).

Keys per account (one hash tag, so a cluster keeps them on one slot):
    imagegate:budget:{<account>}        hash: balance, period, spent, reserved
    imagegate:budget:{<account>}:exp    zset: reservation id -> expiry (ms, Redis TIME)
    imagegate:budget:{<account>}:amt    hash: reservation id -> amount
Expired reservations are purged (their amount leaves `reserved`) at the start of every step, so a
replica that died mid-request holds its reservation for its TTL at most.
"""

from __future__ import annotations

from gateway.budgets.store import Reserved, Snapshot, Terms
from gateway.redis.backend import RedisBackend
from gateway.redis.client import RedisClient

_PRELUDE = """
local acct, exp, amt = KEYS[1], KEYS[2], KEYS[3]
local function fmt(n) return string.format('%d', n) end
local function now_ms(arg)
  local given = tonumber(arg)
  if given and given >= 0 then return given end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(now)
  local dead = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'LIMIT', 0, 1000)
  if #dead == 0 then return end
  local sum = 0
  for _, a in ipairs(redis.call('HMGET', amt, unpack(dead))) do sum = sum + (tonumber(a) or 0) end
  redis.call('ZREM', exp, unpack(dead))
  redis.call('HDEL', amt, unpack(dead))
  redis.call('HINCRBY', acct, 'reserved', fmt(-sum))
end
local function field(name) return tonumber(redis.call('HGET', acct, name) or '0') or 0 end
local function spent(period)
  if period ~= '' and redis.call('HGET', acct, 'period') ~= period then
    redis.call('HSET', acct, 'period', period, 'spent', '0')
    return 0
  end
  return field('spent')
end
local function available(allowance, period, prepaid)
  local left = 0
  if allowance >= 0 then left = math.max(0, allowance - spent(period)) end
  local bal = 0
  if prepaid == '1' then bal = field('balance') end
  return left + bal - field('reserved')
end
"""

# ARGV: rid, amount, allowance (-1: none), period, prepaid (0|1), ttl_ms, now_ms (-1: TIME)
RESERVE_LUA = _PRELUDE + """
local now = now_ms(ARGV[7])
purge(now)
local amount = tonumber(ARGV[2])
local free = available(tonumber(ARGV[3]), ARGV[4], ARGV[5])
if amount > free then return {0, fmt(free)} end
redis.call('ZADD', exp, fmt(now + tonumber(ARGV[6])), ARGV[1])
redis.call('HSET', amt, ARGV[1], fmt(amount))
redis.call('HINCRBY', acct, 'reserved', fmt(amount))
return {1, fmt(free)}
"""

# ARGV: rid, actual, allowance (-1: none), period, prepaid (0|1), now_ms (-1: TIME)
SETTLE_LUA = _PRELUDE + """
purge(now_ms(ARGV[6]))
local charge = tonumber(ARGV[2])
local held = redis.call('HGET', amt, ARGV[1])
if held then
  charge = math.min(charge, tonumber(held))
  redis.call('ZREM', exp, ARGV[1])
  redis.call('HDEL', amt, ARGV[1])
  redis.call('HINCRBY', acct, 'reserved', fmt(-tonumber(held)))
end
local allowance = tonumber(ARGV[3])
local from_allowance = 0
if allowance >= 0 then
  from_allowance = math.min(charge, math.max(0, allowance - spent(ARGV[4])))
  redis.call('HINCRBY', acct, 'spent', fmt(from_allowance))
end
local from_balance = 0
if ARGV[5] == '1' then
  from_balance = math.min(charge - from_allowance, math.max(0, field('balance')))
  redis.call('HINCRBY', acct, 'balance', fmt(-from_balance))
end
return fmt(from_allowance + from_balance)
"""

# ARGV: allowance (-1: none), period, prepaid (0|1), now_ms (-1: TIME)
SNAPSHOT_LUA = _PRELUDE + """
purge(now_ms(ARGV[4]))
local free = available(tonumber(ARGV[1]), ARGV[2], ARGV[3])
return {fmt(field('balance')), fmt(spent(ARGV[2])), fmt(field('reserved')), redis.call('ZCARD', exp), fmt(free)}
"""

# ARGV: delta
ADJUST_LUA = """
local balance = tonumber(redis.call('HGET', KEYS[1], 'balance') or '0') + tonumber(ARGV[1])
if balance < 0 then return {0, '0'} end
redis.call('HSET', KEYS[1], 'balance', string.format('%d', balance))
return {1, string.format('%d', balance)}
"""


def keys(account: str) -> list[str]:
    base = f"imagegate:budget:{{{account}}}"
    return [base, f"{base}:exp", f"{base}:amt"]


def _args(terms: Terms) -> list[str]:
    allowance = -1 if terms.allowance is None else terms.allowance
    return [str(allowance), terms.period, "1" if terms.prepaid else "0"]


def _now(now_ms: int | None) -> str:
    return "-1" if now_ms is None else str(now_ms)


class RedisBudgetStore:
    kind = "redis"

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self._reserve = backend.register_script(RESERVE_LUA)
        self._settle = backend.register_script(SETTLE_LUA)
        self._snapshot = backend.register_script(SNAPSHOT_LUA)
        self._adjust = backend.register_script(ADJUST_LUA)

    async def reserve(
        self, account: str, rid: str, amount: int, terms: Terms, ttl_ms: int, now_ms: int | None = None
    ) -> Reserved:
        args = [rid, str(amount), *_args(terms), str(ttl_ms), _now(now_ms)]

        async def run(client: RedisClient) -> list[object]:
            reply: list[object] = await self._reserve(keys=keys(account), args=args, client=client)
            return reply

        admitted, free = await self._backend.call("budget_reserve", run, component="budgets")
        return Reserved(int(str(admitted)) == 1, _int(free))

    async def settle(self, account: str, rid: str, actual: int, terms: Terms, now_ms: int | None = None) -> int:
        args = [rid, str(actual), *_args(terms), _now(now_ms)]

        async def run(client: RedisClient) -> object:
            return await self._settle(keys=keys(account), args=args, client=client)

        return _int(await self._backend.call("budget_settle", run, component="budgets"))

    async def snapshot(self, account: str, terms: Terms, now_ms: int | None = None) -> Snapshot:
        args = [*_args(terms), _now(now_ms)]

        async def run(client: RedisClient) -> list[object]:
            reply: list[object] = await self._snapshot(keys=keys(account), args=args, client=client)
            return reply

        balance, spent, reserved, count, free = await self._backend.call("budget_snapshot", run, component="budgets")
        return Snapshot(
            balance=_int(balance),
            spent=_int(spent),
            reserved=_int(reserved),
            reservations=_int(count),
            available=_int(free),
        )

    async def adjust(self, account: str, delta: int) -> int | None:
        async def run(client: RedisClient) -> list[object]:
            reply: list[object] = await self._adjust(keys=keys(account)[:1], args=[str(delta)], client=client)
            return reply

        ok, balance = await self._backend.call("budget_adjust", run, component="budgets")
        return _int(balance) if _int(ok) == 1 else None


def _int(value: object) -> int:
    if isinstance(value, bytes):
        return int(value.decode("ascii"))
    return int(str(value))
