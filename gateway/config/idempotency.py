"""The `idempotency:` section of the routing YAML (spec/jobs.md, Idempotency-Key).

    idempotency:
      ttl_seconds: 86400            # how long a final response is kept and replayed (default 24 h)
      in_flight_seconds: 900        # how long a claim holds while its request runs (a dead replica's
                                    # claim lapses after this); default: the request's deadline + 60 s
      max_response_bytes: 16777216  # a final response larger than this is not kept (see docs/idempotency.md)
      memory_max_bytes: 268435456   # the embedded (no Redis) store keeps at most this many response bytes
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

IN_FLIGHT_MARGIN_SECONDS = 60.0  # past the deadline: the answer is encoded, stored, sent


class IdempotencyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=30 * 86400)] = 86400
    in_flight_seconds: Annotated[int, msgspec.Meta(ge=1, le=86400)] | None = None  # None: deadline + margin
    max_response_bytes: Annotated[int, msgspec.Meta(ge=1024, le=512 * 1024 * 1024)] = 16 * 1024 * 1024
    memory_max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 * 1024 * 1024 * 1024)] = 256 * 1024 * 1024

    def in_flight_ms(self, deadline_seconds: float) -> int:
        """How long the claim of a request with this deadline holds: the set value, else deadline + 60 s."""
        seconds = self.in_flight_seconds if self.in_flight_seconds is not None else deadline_seconds + IN_FLIGHT_MARGIN_SECONDS
        return max(1, math.ceil(seconds * 1000))

    def problems(self, longest_deadline: float) -> list[tuple[str, str]]:
        """(YAML path, message): a claim must outlive the longest request it guards."""
        if self.in_flight_seconds is not None and self.in_flight_seconds <= longest_deadline:
            return [(
                "idempotency.in_flight_seconds",
                f"must exceed the longest request deadline ({longest_deadline:g} s), or a running "
                "request's key could be claimed again",
            )]  # fmt: skip
        return []
