"""Routing: plan the fan-out, order deployments, retry, fall back, break circuits, gate calls."""

from gateway.routing.executor import Router, ShardOutcome, execute
from gateway.routing.plan import Shard, plan_shards

__all__ = ["Router", "Shard", "ShardOutcome", "execute", "plan_shards"]
