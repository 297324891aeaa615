"""The `server:`, `providers:` and `models:` sections of the routing YAML (docs/routing.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from gateway.config.cors import CorsConfig
from gateway.config.cost import PriceConfig
from gateway.config.edit import EditInputsConfig, EditRouteConfig
from gateway.config.policy import TimeoutsConfig

Positive = Annotated[float, msgspec.Meta(gt=0, le=86400)]  # finite: .inf would pass gt=0
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
# Bounded: a timer of 1e300 s is an OverflowError in the event loop, not "no timeout".
EdgeSeconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]
# The per-call default when `providers.<name>.max_response_bytes` is not set: at least 32 MiB, and
# 16 MiB per image the call asked for (a 4K base64 PNG is ~25 MB; gpt-image with n: 10 at 1536x1024
# is ~45 MB in one JSON body). A hostile body costs at most that much memory before the read stops.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
RESPONSE_BYTES_PER_IMAGE = 16 * 1024 * 1024


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_body_bytes: PositiveInt = 1024 * 1024
    max_prompt_chars: PositiveInt = 32000
    max_steps: PositiveInt = 150
    request_deadline_seconds: Positive = 120.0
    watch_config_seconds: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 0.0  # > 0: poll the file for changes
    stream_heartbeat_seconds: Positive = 15.0  # SSE comment line when a stream is idle
    # Events a stream holds for a client that is not reading; one more: the stream ends, work is cancelled.
    # At least 16: a producer emits up to ~2n events (n <= 10) at once, before the reader can run.
    stream_max_buffered_events: Annotated[int, msgspec.Meta(ge=16, le=100_000)] = 64
    # The HTTP edge (gateway/edge.py): per worker process, read at start-up (a reload leaves them).
    max_header_bytes: Annotated[int, msgspec.Meta(ge=4096, le=1024 * 1024)] = 32768  # request line + headers
    max_header_count: Annotated[int, msgspec.Meta(ge=16, le=10_000)] = 100
    header_timeout_seconds: EdgeSeconds = 10.0  # connect (or a keep-alive request's 1st byte) -> headers in
    body_timeout_seconds: EdgeSeconds = 30.0  # headers in -> whole body in
    send_timeout_seconds: EdgeSeconds = 30.0  # a response (or stream) write that the client does not drain
    keep_alive_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 5  # idle between requests
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000  # lowered below the fd limit
    cors: CorsConfig = msgspec.field(default_factory=CorsConfig)  # browser origins (docs/browser.md)
    playground: bool = False  # serve /playground (the bundled config turns it on; docs/browser.md)
    edit: EditInputsConfig = msgspec.field(default_factory=EditInputsConfig)  # POST /api/v1/image/edit inputs


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    adapter: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    base_url: str | None = None  # passed to the adapter as settings.base_url
    timeouts: TimeoutsConfig = msgspec.field(default_factory=TimeoutsConfig)
    max_concurrency: PositiveInt | None = None  # in-flight calls per deployment (None: unlimited)
    lease_wait_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 5.0  # wait for a free slot, then fall back
    idempotent: bool = False  # true: a call whose outcome is unknown may be retried (never double-bills)
    retry_on_5xx: bool = True  # retry explicit 500/502/503/504 answers
    # Largest provider response body (JSON, download or stream, after gzip), read as it arrives and
    # abandoned at the cap (UPSTREAM_INVALID -> fallback; 502 at the end). docs/providers.md.
    # None: per call, max(DEFAULT_MAX_RESPONSE_BYTES, RESPONSE_BYTES_PER_IMAGE x images asked).
    max_response_bytes: Annotated[int, msgspec.Meta(ge=65536, le=2**34)] | None = None


class DeploymentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    provider: str
    model: str  # the provider's own model name
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # per-deployment adapter overrides
    weight: Annotated[float, msgspec.Meta(ge=0, le=1e6)] = 1.0  # share of traffic among equals (`weighted`)
    priority: int = 0  # `weighted`: lower tiers are tried first; equals share traffic by weight
    max_concurrency: PositiveInt | None = None  # overrides the provider's
    idempotent: bool | None = None  # overrides the provider's
    retry_on_5xx: bool | None = None  # overrides the provider's
    price: PriceConfig | None = None  # gateway/config/cost.py; None: unpriced (cost 0, basis none)


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    deployments: list[DeploymentConfig]
    aliases: list[str] = msgspec.field(default_factory=list)
    description: str = ""
    deadline_seconds: Positive | None = None
    strategy: Literal["fallback", "weighted"] = "fallback"
    fallback_models: list[str] = msgspec.field(default_factory=list)  # tried after every own deployment
    edit: EditRouteConfig = msgspec.field(default_factory=EditRouteConfig)  # gateway/config/edit.py
