"""create_app(settings) -> Litestar. The lifespan owns the store, the Redis client and the adapters
(each provider's HTTP client lives in the Runtime)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.exceptions import HTTPException
from litestar.logging.config import LoggingConfig

from gateway import __version__, logsafe
from gateway.api.auth import issue_nonce
from gateway.api.balance import session_balance
from gateway.api.budget_release import ReleaseUnusedReservations
from gateway.api.catalog import list_models
from gateway.api.cors import cors_config, refused_preflight_as_error
from gateway.api.edit import edit_image
from gateway.api.errors import handle_gateway_error, handle_http_exception, handle_unexpected
from gateway.api.files import get_stored_file
from gateway.api.health import healthz, readyz
from gateway.api.images import generate_image
from gateway.api.jobs import cancel_job, get_job, job_events
from gateway.api.metrics import ObserveMiddleware, metrics, prime_metrics, release_process_metrics
from gateway.api.openai_compat import openai_generate, openai_list_models
from gateway.api.openai_edit import openai_edit
from gateway.api.openapi import complete_schema, docs_assets, openapi_config
from gateway.api.playground import playground_routes
from gateway.api.request_id import stamp_request_id
from gateway.auth.policy import AuthPolicy
from gateway.auth.principal import AnonymousAuthenticator, Authenticator
from gateway.auth.siwx import SiwxAuthenticator
from gateway.budgets import Budgets
from gateway.config import RoutingConfig, load_config
from gateway.errors import GatewayError
from gateway.jobs import JobService
from gateway.limits.runtime import LimitsRuntime
from gateway.redis import RedisBackend
from gateway.reload import Reloader
from gateway.routing.executor import Router
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.settings import Settings
from gateway.state import open_store
from gateway.state.base import StateStore
from gateway.storage import open_storage

log = logging.getLogger("imagegate")


def create_app(
    settings: Settings, *, config: RoutingConfig | None = None, http: httpx.AsyncClient | None = None
) -> Litestar:
    """Build the app. `config` and `http` let tests inject a routing config and a fake transport."""
    logsafe.install()  # no log line can be forged through untrusted text (CWE-117)
    routing = config if config is not None else load_config(settings.config_path)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # One Redis client (one pool) per process for the replay store, rate limits and leases.
        redis = RedisBackend.from_url(settings.redis_url, routing.limits.redis) if settings.redis_url else None
        store = open_store(redis)

        def build(config: RoutingConfig) -> Runtime:
            return Runtime.build(config, http)  # None: one client per provider

        runtime = build(routing)
        limits = LimitsRuntime.open(redis, routing.limits)
        await limits.warm()
        prime_metrics(routing)
        storage = await open_storage(routing.storage, replicas_hint=max(settings.workers, 2 if redis else 1))
        app.state.services = services = Services(
            settings=settings,
            runtime=runtime,
            store=store,
            authenticator=build_authenticator(routing, store, settings),
            router=Router.local(routing, gate=limits.gate),
            limits=limits,
            budgets=Budgets.open(redis),
            storage=storage,
        )
        services.jobs = JobService.open(redis, lambda: services.runtime, services.router, lambda: services.storage)
        services.jobs.start()
        app.state.reloader = reloader = Reloader(services, settings.config_path, build)
        reloader.start()
        _log_startup(settings, runtime, store)
        try:
            yield
        finally:
            await reloader.aclose()
            await services.jobs.aclose()
            await services.runtime.aclose()
            await store.aclose()
            if storage is not None:
                await storage.aclose()
            if redis is not None:
                await redis.aclose()
            release_process_metrics()

    return Litestar(
        route_handlers=[
            generate_image,
            edit_image,
            issue_nonce,
            list_models,
            healthz,
            readyz,
            metrics,
            openai_generate,
            openai_edit,
            openai_list_models,
            session_balance,
            get_stored_file,
            get_job,
            cancel_job,
            job_events,
            docs_assets(),
            *playground_routes(routing.server),
        ],
        middleware=[ObserveMiddleware, ReleaseUnusedReservations],
        cors_config=cors_config(routing.server.cors),  # read at start-up, like the edge settings
        lifespan=[lifespan],
        on_startup=[complete_schema],
        before_send=[stamp_request_id, refused_preflight_as_error],
        exception_handlers={
            GatewayError: handle_gateway_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        openapi_config=openapi_config(__version__),
        logging_config=logging_config(settings.log_level),
        debug=False,
    )


def logging_config(level: str) -> LoggingConfig:
    """Litestar's queue-backed logging at the configured level. httpx/httpcore log every upstream
    request at INFO: that was ~15% of a worker's CPU under load (py-spy, docs/benchmarks.md), so
    they log warnings only."""
    return LoggingConfig(
        root={"handlers": ["queue_listener"], "level": level.upper()},
        loggers={"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
    )


def build_authenticator(config: RoutingConfig, store: StateStore, settings: Settings) -> Authenticator:
    if config.auth.enabled:
        policy = AuthPolicy.build(config.auth, host=settings.host, port=settings.port)
        log.info("auth: SIWX (%s) for %s", config.auth.replay, ", ".join(sorted(policy.domains)))
        if not config.auth.domains and settings.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning(
                "auth.domains is empty: accepting only sign-ins for %s (derived from --host/--port); "
                "set auth.domains and auth.origins to the public address clients use",
                ", ".join(sorted(policy.domains)),
            )
        return SiwxAuthenticator(policy, store)
    log.warning(
        "AUTHENTICATION IS DISABLED (auth.enabled: false): every request is anonymous. Local development only."
    )
    return AnonymousAuthenticator()


def _log_startup(settings: Settings, runtime: Runtime, store: StateStore) -> None:
    if store.kind == "memory":
        log.warning("no REDIS_URL: using the in-memory store; replay protection and limits are per process")
    configured = runtime.config.providers  # the `adapter:` as written: an alias (local_diffusion) stays one
    providers = ", ".join(f"{name} ({configured[name].adapter})" for name in runtime.adapters)
    log.info("store: %s", store.kind)
    log.info("providers: %s", providers or "none")
    log.info("models: %s", ", ".join(runtime.config.models) or "none")
