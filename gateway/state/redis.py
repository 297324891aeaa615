"""Redis store: shared state for every replica. Short timeouts; errors become StoreUnavailable."""

from __future__ import annotations

from redis.exceptions import RedisError

from gateway.config.limits import RedisClientConfig
from gateway.limits.redis_client import RedisClient, connect
from gateway.state.base import StateStore, StoreUnavailable
from gateway.state.memory import MemoryStore

REQUEST_PATH_TIMEOUT_S = 0.25


class RedisStore(StateStore):
    kind = "redis"

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = REQUEST_PATH_TIMEOUT_S) -> RedisStore:
        # One try per command (a retried SET NX after a timeout would report a false replay), a bounded
        # pool; `redis+cluster://` URLs get a cluster client (gateway.limits.redis_client). No free
        # connection in time raises PoolExhausted (overload), never StoreUnavailable (Redis down).
        config = RedisClientConfig(timeout_ms=round(timeout_s * 1000), pool_size=256)
        return cls(connect(url, config, component="store"))

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis unreachable: {type(exc).__name__}") from exc

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis GET failed: {type(exc).__name__}") from exc
        return value if value is None or isinstance(value, bytes) else value.encode()

    async def set(self, key: str, value: bytes, *, ttl_ms: int | None = None) -> None:
        try:
            await self.client.set(key, value, px=ttl_ms)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis SET failed: {type(exc).__name__}") from exc

    async def delete(self, key: str) -> bool:
        try:
            return bool(await self.client.delete(key))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis DEL failed: {type(exc).__name__}") from exc

    async def set_nx_get(self, key: str, value: bytes, *, ttl_ms: int) -> bytes | None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive: a claim that expires at once is not stored")
        try:
            previous = await self.client.set(key, value, nx=True, get=True, px=ttl_ms)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis SET NX GET failed: {type(exc).__name__}") from exc
        return previous if isinstance(previous, bytes) else None

    async def now_ms(self) -> int:
        try:
            seconds, micros = await self.client.time()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis TIME failed: {type(exc).__name__}") from exc
        return int(seconds) * 1000 + int(micros) // 1000

    async def aclose(self) -> None:
        await self.client.aclose()


def open_store(redis_url: str | None) -> StateStore:
    """Redis when a URL is given (`redis+cluster://host:port` for Redis Cluster), else in memory."""
    if redis_url:
        return RedisStore.from_url(redis_url)
    return MemoryStore()
