"""Rate limits (GCRA, Redis or memory), provider concurrency leases, and per-process admission.

`runtime.LimitsRuntime` wires them for the app; the `limits:` section is `gateway.config.limits`
and the Redis client they share with the replay store is `gateway.redis`.
"""
