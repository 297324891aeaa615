"""`imagegate check-config`: validate a routing file and describe what it resolves to.

Builds the runtime exactly as the gateway would (adapter settings validated, `${VAR}` credentials
resolved against the environment) but sends nothing. Prints providers (disabled ones and why, by
variable name only), each model's resolved route chain, strategy and deadline, and the retry,
circuit-breaker and per-failure-class retry/fallback policy.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import httpx

from gateway.config import ProviderConfig, RoutingConfig
from gateway.routing.policy import describe
from gateway.routing.strategy import candidates
from gateway.runtime import Runtime


async def describe_config(config: RoutingConfig, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Lines describing the resolved config; raises ConfigError like the gateway's start-up would."""
    async with httpx.AsyncClient() as client:
        runtime = Runtime.build(config, client, environ=environ)
        try:
            return _lines(runtime)
        finally:
            await runtime.aclose()


def _lines(runtime: Runtime) -> list[str]:
    config = runtime.config
    lines = ["providers:"]
    for name, provider in config.providers.items():
        state = f"DISABLED ({runtime.disabled[name]})" if name in runtime.disabled else "enabled"
        lines.append(f"  {name}: adapter={provider.adapter} {state}; {_provider_limits(provider)}")
    lines.append("models:")
    for slug, model in config.models.items():
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        deadline = model.deadline_seconds or config.server.request_deadline_seconds
        lines.append(f"  {slug}{aliases}: strategy={model.strategy} deadline={deadline:g}s")
        chain = candidates(runtime, slug, random.Random(0))
        route = _route(runtime, slug) if chain else "NONE: " + runtime.why_unavailable(slug)
        lines.append(f"    route: {route}")
        if model.fallback_models:
            lines.append(f"    fallback_models: {', '.join(model.fallback_models)}")
    retry = config.retry
    lines.append(
        f"retry: attempts={retry.attempts} backoff=full-jitter base {retry.backoff_base_seconds:g}s"
        f" cap {retry.backoff_cap_seconds:g}s; Retry-After cap {retry.retry_after_cap_seconds:g}s;"
        f" budget {retry.budget_ratio:.0%} of requests (min {retry.budget_min_retries}"
        f" per {retry.budget_window_seconds:g}s)"
    )
    breaker = config.circuit_breaker
    lines.append(
        f"circuit_breaker: {'on' if breaker.enabled else 'off'}; open after"
        f" {breaker.consecutive_failures} consecutive failures or {breaker.failure_rate:.0%} of"
        f" >= {breaker.min_requests} calls in {breaker.window_seconds:g}s; open {breaker.open_seconds:g}s;"
        f" {breaker.half_open_probes} half-open probe(s)"
    )
    lines.append("policy (failure class: retry same deployment / next step):")
    lines.extend(f"  {name}: retry={retry_rule} then={step}" for name, retry_rule, step in describe(config.fallback))
    return lines


def _provider_limits(provider: ProviderConfig) -> str:
    timeouts = provider.timeouts
    attempt = f"{timeouts.attempt_seconds:g}s" if timeouts.attempt_seconds else "deadline"
    total = f"{timeouts.total_seconds:g}s" if timeouts.total_seconds else "deadline"
    return (
        f"max_concurrency={provider.max_concurrency or 'unlimited'} idempotent={provider.idempotent}"
        f" retry_on_5xx={provider.retry_on_5xx} timeouts(connect={timeouts.connect_seconds:g}s"
        f" attempt={attempt} total={total})"
    )


def _route(runtime: Runtime, slug: str) -> str:
    """`a -> b` for a fallback chain; `{a w=3 | b w=1} -> {c w=1}` for weighted tiers; then the
    fallback models' routes."""
    model = runtime.config.models[slug]
    own = runtime.deployments(slug)
    if model.strategy == "fallback":
        hops = [d.label for d in own]
    else:
        tiers = sorted({d.config.priority for d in own})
        hops = [
            "{" + " | ".join(f"{d.label} w={d.config.weight:g}" for d in own if d.config.priority == tier) + "}"
            for tier in tiers
        ]
    for other in model.fallback_models:
        resolved = runtime.config.resolve_model(other)
        if resolved is not None and runtime.deployments(resolved[0]):
            hops.append(f"model {resolved[0]}")
    return " -> ".join(hops) or "(own deployments disabled)"
