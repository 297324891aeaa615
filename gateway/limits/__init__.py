"""Rate limits (GCRA, Redis or memory), provider concurrency leases, and the Redis discipline.

Only the dependency-free parts are re-exported here, because `gateway.config` imports this package;
import the Redis-backed parts from their modules (`gateway.limits.runtime`, `.leases`, `.service`).
"""

from gateway.limits.config import LeaseConfig, LimitsConfig, RatePolicy, RedisClientConfig, ScopeLimits
from gateway.limits.gcra import Bucket, Decision, Limiter, MemoryLimiter

__all__ = [
    "Bucket",
    "Decision",
    "LeaseConfig",
    "Limiter",
    "LimitsConfig",
    "MemoryLimiter",
    "RatePolicy",
    "RedisClientConfig",
    "ScopeLimits",
]
