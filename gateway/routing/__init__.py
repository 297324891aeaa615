"""Routing: plan the fan-out, try deployments in order, collect shard outcomes."""

from gateway.routing.executor import ShardOutcome, execute
from gateway.routing.plan import Shard, plan_shards

__all__ = ["Shard", "ShardOutcome", "execute", "plan_shards"]
