"""The one home of Redis in a process: one client (one pool to REDIS_URL), one guarded backend with
its breaker and deadline, one `RedisUnavailable` (and `RedisBusy` when no connection slot was free).

    client.py    connect(): one-try commands, short timeouts, slots in front of the pool (PoolExhausted)
    breaker.py   RedisBreaker: K consecutive errors open it for T seconds, then one probe
    backend.py   RedisBackend.call(): breaker + deadline + error accounting around every command

Users: the replay store (gateway/state/redis.py, fails closed), rate limits and leases
(gateway/limits/, degrade to per-process decisions). Sized and timed by `limits.redis`.
"""

from gateway.redis.backend import RedisBackend, RedisBusy, RedisUnavailable
from gateway.redis.client import PoolExhausted, RedisClient, connect

__all__ = ["PoolExhausted", "RedisBackend", "RedisBusy", "RedisClient", "RedisUnavailable", "connect"]
