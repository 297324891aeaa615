"""The live configuration: the routing file plus one adapter instance per configured provider.

A Runtime is immutable once built; hot reload builds a new one and swaps it atomically, so in-flight
requests finish on the runtime they started with.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from adapters.base import AdapterSettingsError, ImageAdapter, build_adapter
from gateway.config import ConfigError, DeploymentConfig, RoutingConfig


@dataclass(frozen=True, slots=True)
class Deployment:
    """One route of a model: a provider's adapter and the provider's own model name."""

    label: str  # "<provider>/<model>", used in attempts, logs and metric labels
    provider: str
    adapter: ImageAdapter
    config: DeploymentConfig
    max_concurrency: int | None = None  # the provider's cap, enforced by the concurrency gate
    lease_wait_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class Runtime:
    config: RoutingConfig
    adapters: dict[str, ImageAdapter]

    @classmethod
    def build(cls, config: RoutingConfig, client: httpx.AsyncClient) -> Runtime:
        adapters: dict[str, ImageAdapter] = {}
        for name, provider in config.providers.items():
            try:
                adapters[name] = build_adapter(
                    provider.adapter, provider=name, settings=provider.settings, client=client
                )
            except AdapterSettingsError as exc:
                path = f"providers.{name}.settings" + (f".{exc.path}" if exc.path else "")
                raise ConfigError(path, str(exc)) from exc
        return cls(config=config, adapters=adapters)

    def deployments(self, slug: str) -> list[Deployment]:
        model = self.config.models[slug]
        return [
            Deployment(
                label=f"{d.provider}/{d.model}",
                provider=d.provider,
                adapter=self.adapters[d.provider],
                config=d,
                max_concurrency=self.config.providers[d.provider].max_concurrency,
                lease_wait_seconds=self.config.limits.leases.wait_seconds,
            )
            for d in model.deployments
            if d.provider in self.adapters
        ]

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()
