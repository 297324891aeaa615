"""Shared state: one `StateStore` interface, in-memory (embedded default) and Redis implementations."""

from gateway.state.base import StateStore, StoreFull, StoreUnavailable
from gateway.state.memory import MemoryStore
from gateway.state.redis import RedisStore, open_store

__all__ = ["MemoryStore", "RedisStore", "StateStore", "StoreFull", "StoreUnavailable", "open_store"]
