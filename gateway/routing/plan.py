"""Fan-out planning: split `n` images into calls of at most `max_n`, with consecutive seeds."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from gateway.canonical import ImageRequest


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # position of this shard in the plan
    first_image: int  # index of the shard's first image in the response
    request: ImageRequest  # the request for this call: its own n and seed


def plan_shards(req: ImageRequest, max_n: int, *, group: int | None = None) -> list[Shard]:
    """`ceil(n / max_n)` calls; a fixed seed becomes seed, seed+k, … so images stay distinct and reproducible.

    `group` (a streamed request: the primary's images per streaming call) first cuts `n` into
    groups of that size, then each group into calls of at most `max_n`, numbered in image order.
    """
    if group is not None and group < req.n:
        shards: list[Shard] = []
        for outer in plan_shards(req, group):
            for inner in plan_shards(outer.request, max_n):
                shards.append(Shard(len(shards), outer.first_image + inner.first_image, inner.request))
        return shards
    max_n = max(1, max_n)
    shards = []
    first = 0
    while first < req.n:
        count = min(max_n, req.n - first)
        seed = None if req.seed is None else req.seed + first
        shards.append(Shard(len(shards), first, msgspec.structs.replace(req, n=count, seed=seed)))
        first += count
    return shards
