"""Every Prometheus collector, defined once, with bounded label sets.

Labels are only ever: route, method, model (canonical slug), provider, deployment ("provider/model"
from the routing file), status (HTTP code), outcome / failure_class (FailureClass values), code (error
codes), scope (limit scope), reason, state, result. Never an account, IP, prompt, key or signature.
`docs/metrics.md` explains each. Multiprocess mode (`--workers` > 1) is enabled by setting
PROMETHEUS_MULTIPROC_DIR before this module is imported (`imagegate serve` does that).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

REQUESTS = Counter(
    "imagegate_requests_total",
    "HTTP requests answered, by route family (canonical, openai, other), route, model and status code.",
    ["family", "route", "model", "status"],
)
REQUEST_DURATION = Histogram(
    "imagegate_request_duration_seconds",
    "Time from request start to response, by route and model.",
    ["route", "model"],
    buckets=_LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "imagegate_requests_in_flight", "Requests being served right now.", ["route"], multiprocess_mode="livesum"
)
UPSTREAM_ATTEMPTS = Counter(
    "imagegate_upstream_attempts_total",
    "Calls to a provider deployment, by outcome ('ok' or a failure class).",
    ["provider", "deployment", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "imagegate_upstream_latency_seconds",
    "Duration of one upstream attempt (including Flux polling).",
    ["provider", "deployment"],
    buckets=_LATENCY_BUCKETS,
)
RETRIES = Counter(
    "imagegate_retries_total",
    "Retries of the same deployment, by failure class.",
    ["deployment", "failure_class"],
)
RETRY_BUDGET_EXHAUSTED = Counter(
    "imagegate_retry_budget_exhausted_total",
    "Retries skipped because the retry budget was spent.",
    ["deployment"],
)
FALLBACKS = Counter(
    "imagegate_fallbacks_total",
    "Moves from one deployment to the next, by failure class.",
    ["from_deployment", "to_deployment", "failure_class"],
)
IMAGES_GENERATED = Counter(
    "imagegate_images_generated_total", "Images returned to clients.", ["model", "provider"]
)
AUTH_FAILURES = Counter(
    "imagegate_auth_failures_total", "Rejected Sign-In-With-X envelopes, by error code.", ["code"]
)
AUTH_SUCCESSES = Counter(
    "imagegate_auth_successes_total", "Accepted Sign-In-With-X envelopes, by chain namespace.", ["namespace"]
)
RATE_LIMITED = Counter(
    "imagegate_rate_limited_total", "Requests rejected by the gateway's own limits, by scope.", ["scope"]
)
LEASES_IN_USE = Gauge(
    "imagegate_leases_in_use",
    "Provider concurrency leases held by this process.",
    ["deployment"],
    multiprocess_mode="livesum",
)
LEASE_WAIT = Histogram(
    "imagegate_lease_wait_seconds",
    "Time spent waiting for a provider concurrency lease.",
    ["deployment", "result"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CIRCUIT_STATE = Gauge(
    "imagegate_circuit_state",
    "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
    ["deployment"],
    multiprocess_mode="livemax",  # a dead worker's breaker says nothing about the fleet
)
CIRCUIT_TRANSITIONS = Counter(
    "imagegate_circuit_transitions_total", "Circuit breaker state changes.", ["deployment", "state"]
)
CONFIG_RELOADS = Counter(
    "imagegate_config_reloads_total", "Routing config reloads, by result (ok/failed).", ["result"]
)
REDIS_ERRORS = Counter(
    "imagegate_redis_errors_total", "Redis calls that failed or timed out, by operation.", ["operation"]
)
REDIS_POOL_EXHAUSTED = Counter(
    "imagegate_redis_pool_exhausted_total",
    "Redis commands that found no free connection slot within the wait, by component (limits/store): "
    "the process is busy, Redis is not blamed.",
    ["component"],
)
OVERLOAD_SHED = Counter(
    "imagegate_overload_shed_total",
    "Requests shed with 503 service_unavailable because this process is at capacity, by reason "
    "(admission_queue, admission_wait, redis_pool).",
    ["reason"],
)
DEGRADED_DECISIONS = Counter(
    "imagegate_degraded_decisions_total",
    "Decisions taken without Redis, by component and decision (e.g. ratelimit/local, auth/reject).",
    ["component", "decision"],
)
EDGE_REASONS = (
    "header_too_large",
    "too_many_headers",
    "bad_request",
    "header_timeout",
    "body_timeout",
    "send_timeout",
    "connection_limit",
    "stream_overflow",
)
EDGE_REJECTIONS = Counter(
    "imagegate_edge_rejections_total",
    "Connections the HTTP edge refused or shed before or around the app, by reason (gateway/edge.py).",
    ["reason"],
)
COST_USD = Counter(
    "imagegate_cost_usd_total",
    "What provider calls cost in USD (docs/cost.md), by canonical model and provider.",
    ["model", "provider"],
)
BUDGET_REJECTIONS = Counter(
    "imagegate_budget_rejections_total",
    "Requests refused because the account's budget could not cover their reservation, by reason.",
    ["reason"],
)
IDEMPOTENT_REPLAYS = Counter(
    "imagegate_idempotent_replays_total",
    "Idempotency-Key outcomes other than a first run, by route and result (replayed, in_progress, "
    "mismatch, unavailable); none of them reached a provider.",
    ["route", "result"],
)
STORAGE_UPLOADS = Counter(
    "imagegate_storage_uploads_total",
    "Result-storage uploads by backend (component: local, s3) and result (ok, error).",
    ["component", "result"],
)
JOBS = Counter(
    "imagegate_jobs_total",
    "Async jobs entering a state (queued, running, completed, partial, failed, canceled).",
    ["state"],
)
JOB_DURATION = Histogram(
    "imagegate_job_duration_seconds",
    "Time from an async job's submission to its end, by final state.",
    ["state"],
    buckets=_LATENCY_BUCKETS,
)
JOB_TAKEOVERS = Counter(
    "imagegate_job_takeovers_total",
    "Async jobs taken over after their runner's heartbeat lapsed, by result (resumed, failed, finished).",
    ["result"],
)
WEBHOOK_DELIVERIES = Counter(
    "imagegate_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, retried, failed: the last attempt failed).",
    ["outcome"],
)
