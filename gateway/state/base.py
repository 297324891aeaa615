"""The state store contract. Both implementations run under one contract test suite."""

from __future__ import annotations

import abc


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time. Callers decide fail-open/closed."""


class StateStore(abc.ABC):
    """Keys are namespaced by the caller (`ig:{…}`); values are bytes."""

    kind: str

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set(self, key: str, value: bytes, *, ttl_ms: int | None = None) -> None: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete `key`; True when it existed."""

    @abc.abstractmethod
    async def set_nx_get(self, key: str, value: bytes, *, expire_at_ms: int) -> bytes | None:
        """Atomically: if `key` is unset, set it to `value` expiring at the absolute unix time
        `expire_at_ms` and return None; else return the current value and change nothing.
        (Redis: one `SET key value NX GET PXAT expire_at_ms`.)"""

    @abc.abstractmethod
    async def now_ms(self) -> int:
        """The store's own clock (Redis TIME), so every replica agrees on time-based state."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...
