"""The live configuration: the routing file plus one adapter instance per enabled provider.

A Runtime is immutable once built; hot reload (gateway/reload.py) builds a new one and swaps it
atomically, so in-flight requests finish on the runtime they started with. A provider whose
`${VAR}` credentials are missing is disabled (listed in `disabled`, logged at start-up), never
given an empty key; its models still load and answer with a clear error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from adapters.base import AdapterSettingsError, ImageAdapter
from adapters.registry import adapter_kinds, build_adapter, check_options
from gateway import http_client
from gateway.config import (
    ConfigError,
    DeploymentConfig,
    ProviderConfig,
    RoutingConfig,
    TimeoutsConfig,
    resolve_provider_settings,
    settings_error_message,
    split_validation_error,
)

log = logging.getLogger("imagegate.routing")


@dataclass(frozen=True, slots=True)
class Deployment:
    """One route of a model: a provider's adapter and the provider's own model name."""

    label: str  # "<provider>/<model>", used in attempts, logs and metric labels
    provider: str
    adapter: ImageAdapter
    config: DeploymentConfig
    provider_config: ProviderConfig = field(default_factory=lambda: ProviderConfig(adapter="mock"))

    @property
    def max_concurrency(self) -> int | None:
        own = self.config.max_concurrency
        return own if own is not None else self.provider_config.max_concurrency

    @property
    def idempotent(self) -> bool:
        own = self.config.idempotent
        return own if own is not None else self.provider_config.idempotent

    @property
    def retry_on_5xx(self) -> bool:
        own = self.config.retry_on_5xx
        return own if own is not None else self.provider_config.retry_on_5xx

    @property
    def timeouts(self) -> TimeoutsConfig:
        return self.provider_config.timeouts


@dataclass(frozen=True, slots=True)
class Runtime:
    config: RoutingConfig
    adapters: dict[str, ImageAdapter]
    disabled: dict[str, str] = field(default_factory=dict)  # provider -> why (names, never values)
    clients: list[httpx.AsyncClient] = field(default_factory=list)  # owned here, closed in aclose

    @classmethod
    def build(
        cls,
        config: RoutingConfig,
        client: httpx.AsyncClient | None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Runtime:
        """Adapters for every provider whose credentials resolve. `client` None: each provider gets
        its own HTTP client with its connect/attempt timeouts (production); otherwise all share
        `client` (tests inject a fake transport there)."""
        check_adapters(config)
        adapters: dict[str, ImageAdapter] = {}
        disabled: dict[str, str] = {}
        clients: list[httpx.AsyncClient] = []
        for name, provider in config.providers.items():
            settings, missing = resolve_provider_settings(provider, environ)
            if missing:
                disabled[name] = f"missing environment variable(s): {', '.join(missing)}"
                log.warning("provider %s DISABLED: %s", name, disabled[name])
                continue
            http = client
            if http is None:
                http = _client_for(provider)
                clients.append(http)
            try:
                adapters[name] = build_adapter(
                    provider.adapter, provider=name, settings=settings, client=http
                )
            except (AdapterSettingsError, ValueError, TypeError) as exc:
                where = exc.path if isinstance(exc, AdapterSettingsError) else ""
                path = f"providers.{name}.settings" + (f".{where}" if where else "")
                if where == "base_url" and "base_url" not in provider.settings:
                    path = f"providers.{name}.base_url"  # given at the provider level
                # `from None`: the original error may carry a resolved `${VAR}` value
                raise ConfigError(path, settings_error_message(provider, where, str(exc), environ)) from None
        return cls(config=config, adapters=adapters, disabled=disabled, clients=clients)

    def deployments(self, slug: str) -> list[Deployment]:
        """The model's own enabled deployments, in file order."""
        model = self.config.models[slug]
        return [
            Deployment(
                label=f"{d.provider}/{d.model}",
                provider=d.provider,
                adapter=self.adapters[d.provider],
                config=d,
                provider_config=self.config.providers[d.provider],
            )
            for d in model.deployments
            if d.provider in self.adapters
        ]

    def why_unavailable(self, slug: str) -> str:
        """A client-safe explanation for a model with no enabled deployment."""
        providers = sorted({d.provider for d in self.config.models[slug].deployments})
        return f"model {slug!r} has no enabled deployment (provider disabled: {', '.join(providers)})"

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()
        for http in self.clients:
            await http.aclose()


def check_adapters(config: RoutingConfig) -> None:
    """What only the adapters know, for every provider and deployment (disabled ones too): the
    `adapter` kind exists and each deployment's `options:` fit the Struct its adapter declares — a
    misspelt or mistyped key is refused here (check-config, start-up, reload), never silently
    ignored at request time. Here rather than in gateway.config, which stays below the adapters."""
    kinds = adapter_kinds()
    for name, provider in config.providers.items():
        if provider.adapter not in kinds:
            raise ConfigError(
                f"providers.{name}.adapter", f"unknown adapter {provider.adapter!r}; expected one of {kinds}"
            )
    for slug, model in config.models.items():
        for i, deployment in enumerate(model.deployments):
            path = f"models.{slug}.deployments[{i}].options"
            try:
                check_options(config.providers[deployment.provider].adapter, deployment.options)
            except AdapterSettingsError as exc:
                key = exc.path or split_validation_error(str(exc))[0]
                raise ConfigError(f"{path}.{key}" if key else path, str(exc)) from exc


def _client_for(provider: ProviderConfig) -> httpx.AsyncClient:
    timeouts = provider.timeouts
    read = timeouts.attempt_seconds or 300.0
    return http_client.build_client(
        httpx.Timeout(read, connect=timeouts.connect_seconds), max_response_bytes=provider.max_response_bytes
    )
