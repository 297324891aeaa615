"""The state store contract. Both implementations run under one contract test suite."""

from __future__ import annotations

import abc


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time. Callers decide fail-open/closed."""


class StoreFull(StoreUnavailable):
    """The (bounded, in-memory) store is full of live keys and refuses new ones. Never solved by
    evicting a live key: an evicted replay key lets its signed message be replayed."""


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
    async def set_nx_get(self, key: str, value: bytes, *, ttl_ms: int) -> bytes | None:
        """Atomically: if `key` is unset, set it to `value` expiring `ttl_ms` (> 0) from now on the
        store's own clock and return None; else return the current value and change nothing.
        (Redis: one `SET key value NX GET PX ttl_ms`.) Relative on purpose: an absolute expiry
        computed on the caller's clock is early by however far the store's clock runs ahead."""

    @abc.abstractmethod
    async def now_ms(self) -> int:
        """The store's own clock (Redis TIME), so every replica agrees on time-based state."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...
