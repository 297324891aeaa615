"""The order in which a request tries a model's deployments.

- `strategy: fallback`: the file order is the fallback chain.
- `strategy: weighted`: deployments are grouped by `priority` (lowest first); inside a group the order
  is a weighted draw without replacement, so the first pick spreads traffic by `weight` among equals
  and the rest of the group is the fallback chain. The RNG is injected (seeded in tests).
- then each of `fallback_models`, with its own strategy (cross-model fallback, e.g. flux-pro ->
  dall-e-3); a deployment already in the chain is not tried twice.
- `capable` keeps the deployments whose adapter performs the request's operation.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from itertools import groupby

from gateway.canonical import CallContext, ImageRequest, Operation, ProviderResult
from gateway.config import ModelConfig
from gateway.runtime import Deployment, Runtime

Call = Callable[[ImageRequest, CallContext], Awaitable[ProviderResult]]


def candidates(runtime: Runtime, slug: str, rng: random.Random) -> list[Deployment]:
    model = runtime.config.models[slug]
    chain = order(runtime.deployments(slug), model, rng)
    seen = {d.label for d in chain}
    visited = {slug}
    for other in model.fallback_models:
        resolved = runtime.config.resolve_model(other)
        if resolved is None or resolved[0] in visited:
            continue
        visited.add(resolved[0])
        for deployment in order(runtime.deployments(resolved[0]), resolved[1], rng):
            if deployment.label not in seen:
                seen.add(deployment.label)
                chain.append(deployment)
    return chain


def capable(chain: list[Deployment], operation: Operation) -> list[Deployment]:
    """The deployments that can perform `operation` (every adapter generates; editing is optional)."""
    return [d for d in chain if operation_of(d, operation) is not None]


def operation_of(deployment: Deployment, operation: Operation) -> Call | None:
    """The adapter method that performs `operation`, or None when this adapter lacks it."""
    method: Call | None = getattr(deployment.adapter, operation.value, None)
    return method if callable(method) else None


def order(deployments: list[Deployment], model: ModelConfig, rng: random.Random) -> list[Deployment]:
    if model.strategy == "fallback":
        return list(deployments)
    ranked = sorted(deployments, key=lambda d: d.config.priority)
    chain: list[Deployment] = []
    for _, group in groupby(ranked, key=lambda d: d.config.priority):
        chain.extend(weighted_shuffle(list(group), rng))
    return chain


def weighted_shuffle(group: list[Deployment], rng: random.Random) -> list[Deployment]:
    """Draw without replacement, each pick proportional to weight; zero weights go last."""
    pool = [d for d in group if d.config.weight > 0]
    result: list[Deployment] = []
    while pool:
        total = sum(d.config.weight for d in pool)
        point = rng.uniform(0, total)
        for i, deployment in enumerate(pool):
            point -= deployment.config.weight
            if point <= 0 or i == len(pool) - 1:
                result.append(pool.pop(i))
                break
    return result + [d for d in group if d.config.weight <= 0]
