"""Redis store: shared state for every replica, through the process's one guarded Redis backend.

One try per command (a retried SET NX after a timeout would report a false replay), the backend's
short timeouts and its breaker (gateway/redis/; single-key commands need no whole-call deadline).
Redis failing, or the breaker open, is `StoreUnavailable` — the store contract's error, on which
the replay guard fails closed. No free connection slot in time is `RedisBusy` (overload: the
caller sheds), never StoreUnavailable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster

from gateway.config.limits import RedisClientConfig
from gateway.redis import RedisBackend, RedisBusy, RedisClient, RedisUnavailable, connect
from gateway.state.base import StateStore, StoreUnavailable
from gateway.state.memory import MemoryStore

T = TypeVar("T")
ScriptArg = bytes | str | int | float
REQUEST_PATH_TIMEOUT_S = 0.25  # `from_url` only; the app's store uses `limits.redis.timeout_ms`


class RedisStore(StateStore):
    kind = "redis"

    def __init__(self, backend: RedisBackend, *, owns_backend: bool = True) -> None:
        self.backend = backend
        self._owns_backend = owns_backend  # False: the app's shared backend, closed by the app

    @property
    def client(self) -> RedisClient:
        return self.backend.client

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = REQUEST_PATH_TIMEOUT_S) -> RedisStore:
        """A store with a backend of its own (tools and tests; the app shares its one backend)."""
        config = RedisClientConfig(timeout_ms=round(timeout_s * 1000), pool_size=256)
        return cls(RedisBackend(connect(url, config), config))

    async def _call(self, command: str, action: Callable[[RedisClient], Awaitable[T]]) -> T:
        try:
            return await self.backend.call("store", action, component="store", deadline=False)
        except RedisBusy:
            raise
        except RedisUnavailable as exc:
            cause = "breaker open" if exc.__cause__ is None else type(exc.__cause__).__name__
            raise StoreUnavailable(f"redis {command} failed: {cause}") from exc

    async def ping(self) -> None:
        await self._call("PING", lambda client: client.ping())

    async def get(self, key: str) -> bytes | None:
        value = await self._call("GET", lambda client: client.get(key))
        return value if value is None or isinstance(value, bytes) else value.encode()

    async def set(self, key: str, value: bytes, *, ttl_ms: int | None = None) -> None:
        await self._call("SET", lambda client: client.set(key, value, px=ttl_ms))

    async def delete(self, key: str) -> bool:
        return bool(await self._call("DEL", lambda client: client.delete(key)))

    async def set_nx_get(self, key: str, value: bytes, *, ttl_ms: int) -> bytes | None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive: a claim that expires at once is not stored")
        previous = await self._call(
            "SET NX GET", lambda client: client.set(key, value, nx=True, get=True, px=ttl_ms)
        )
        return previous if isinstance(previous, bytes) else None

    @property
    def is_cluster(self) -> bool:
        return isinstance(self.backend.client, RedisCluster)

    def script(self, source: str) -> Callable[[Sequence[str], Sequence[ScriptArg]], Awaitable[Any]]:
        """A Lua script run with the store's error discipline (StoreUnavailable / RedisBusy)."""
        script = self.backend.register_script(source)

        def run(keys: Sequence[str], args: Sequence[ScriptArg]) -> Awaitable[Any]:
            return self._call("EVALSHA", lambda client: script(keys=keys, args=args, client=client))

        return run

    async def now_ms(self) -> int:
        seconds, micros = await self._call("TIME", lambda client: client.time())
        return int(seconds) * 1000 + int(micros) // 1000

    async def aclose(self) -> None:
        if self._owns_backend:
            await self.backend.aclose()


def open_store(redis: RedisBackend | None) -> StateStore:
    """Redis through the process's shared backend when there is one, else in memory."""
    if redis is not None:
        return RedisStore(redis, owns_backend=False)
    return MemoryStore()
