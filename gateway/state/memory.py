"""In-memory store: the embedded default. State is per process; keys expire lazily and by sweep.

Bounded: at most `max_keys` live keys. Expired keys are dropped first; when every key is still live
a new key is refused (`StoreFull`, which callers turn into 503) rather than evicting one, because an
evicted replay key would let its signed message be accepted again. Keys already present can always
be read, overwritten and deleted.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

from gateway.state.base import StateStore, StoreFull

# ~430 bytes per replay key in CPython (key string, digest, tuple, dict slot, heap entry; measured with
# tracemalloc): the default bounds the embedded store near 430 MB, under a 1 GiB container limit, and
# holds ~270 single-use requests a second with 1-hour messages (far more with the client's 5 minutes).
DEFAULT_MAX_KEYS = 1_000_000


class MemoryStore(StateStore):
    kind = "memory"

    def __init__(self, *, clock_ms: Callable[[], int] | None = None, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._data: dict[str, tuple[bytes, int | None]] = {}
        self._expiries: list[tuple[int, str]] = []
        self._clock = clock_ms or _wall_clock_ms
        self._max_keys = max_keys

    async def ping(self) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl_ms: int | None = None) -> None:
        self._put(key, value, None if ttl_ms is None else self._clock() + ttl_ms)

    async def delete(self, key: str) -> bool:
        existed = self._live(key) is not None
        self._data.pop(key, None)
        return existed

    async def set_nx_get(self, key: str, value: bytes, *, ttl_ms: int) -> bytes | None:
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive: a claim that expires at once is not stored")
        # No await between the read and the write: atomic with respect to other coroutines.
        current = self._live(key)
        if current is not None:
            return current
        self._put(key, value, self._clock() + ttl_ms)
        return None

    def __len__(self) -> int:
        """Keys held, live or not yet swept (what `max_keys` bounds)."""
        return len(self._data)

    async def now_ms(self) -> int:
        return self._clock()

    async def aclose(self) -> None:
        self._data.clear()
        self._expiries.clear()

    def _live(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._clock():
            del self._data[key]
            return None
        return value

    def _put(self, key: str, value: bytes, expires_at: int | None) -> None:
        self._sweep()
        if key not in self._data and len(self._data) >= self._max_keys:
            raise StoreFull(f"in-memory store full: {self._max_keys} live keys")
        self._data[key] = (value, expires_at)
        if expires_at is not None:
            heapq.heappush(self._expiries, (expires_at, key))
            if len(self._expiries) > 2 * self._max_keys:
                self._compact()

    def _compact(self) -> None:
        """Drop heap entries of deleted or overwritten keys, so the heap stays O(max_keys) too."""
        self._expiries = [(at, key) for key, (_, at) in self._data.items() if at is not None]
        heapq.heapify(self._expiries)

    def _sweep(self) -> None:
        now = self._clock()
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self._expiries)
            entry = self._data.get(key)
            if entry is not None and entry[1] == expires_at:
                del self._data[key]


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
