"""The `jobs:` and `webhooks:` sections of the routing YAML (async jobs, spec/jobs.md).

jobs:
  ttl_seconds: 86400            # how long a finished job and its events are kept
  heartbeat_seconds: 2          # the runner renews its claim this often (and reads the cancel flag)
  takeover_after_seconds: 10    # a job whose heartbeat is older than this is taken over
  max_age_seconds: 3600         # no job is `running` longer than this: it ends `failed`
  max_running: 64               # jobs one process runs at once; more: 503 at submission
  max_events: 2000              # progress events stored per job (the ending is always stored)
  max_stored_bytes: 67108864    # events + result kept in Redis per job (images included)
webhooks:
  secret_env: IMAGEGATE_WEBHOOK_SECRET   # the Standard Webhooks secret (whsec_...), from the env
  max_attempts: 5               # deliveries tried per job (non-2xx or no answer: retried)
  backoff_seconds: 1            # first wait; doubled per attempt, capped at backoff_max_seconds
  backoff_max_seconds: 60
  timeout_seconds: 10           # one delivery POST, connect to last byte
  allow_loopback: false         # tests and local development only: http(s) receivers on 127.0.0.0/8, ::1, localhost
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Seconds = Annotated[float, msgspec.Meta(gt=0, le=1e7)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class JobsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=30 * 86400)] = 86400
    heartbeat_seconds: Seconds = 2.0
    takeover_after_seconds: Seconds = 10.0
    max_age_seconds: Seconds = 3600.0
    max_running: Count = 64
    max_events: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 2000
    max_stored_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 34)] = 64 << 20
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0

    def __post_init__(self) -> None:
        if self.takeover_after_seconds <= self.heartbeat_seconds:
            raise ValueError("takeover_after_seconds must be larger than heartbeat_seconds")


class WebhooksConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    secret_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")] = (
        "IMAGEGATE_WEBHOOK_SECRET"
    )
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    backoff_seconds: Seconds = 1.0
    backoff_max_seconds: Seconds = 60.0
    timeout_seconds: Seconds = 10.0
    allow_loopback: bool = False  # other private addresses stay refused either way
