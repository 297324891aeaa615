"""The operator's routing YAML, decoded into Structs. Every error names the path of the bad key.

Shape (see docs/routing.md for the full reference):

    server:      limits on requests (body size, prompt length, steps), the default deadline
    providers:   name -> {adapter, settings}: one configured upstream each
    models:      canonical slug -> {aliases, deployments: [{provider, model, ...}]}
    auth:        SIWX policy (gateway/auth/config.py)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from gateway.auth.config import AuthConfig

BUNDLED_CONFIG = Path(__file__).with_name("default_routing.yaml")
_SLUG = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"


class ConfigError(ValueError):
    """A routing file that cannot be used. `path` is the dotted key path (`models.x.deployments[0]`)."""

    def __init__(self, path: str, message: str, *, source: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path or '<root>'}: {message}")
        self.path = path
        self.message = message


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_body_bytes: int = msgspec.field(default=1024 * 1024)
    max_prompt_chars: int = 32000
    max_steps: int = 150
    request_deadline_seconds: float = 120.0
    stream_heartbeat_seconds: Annotated[float, msgspec.Meta(gt=0)] = 15.0  # SSE comment when idle


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    adapter: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class DeploymentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    provider: str
    model: str  # the provider's own model name
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # per-deployment adapter overrides


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    deployments: list[DeploymentConfig]
    aliases: list[str] = msgspec.field(default_factory=list)
    description: str = ""
    deadline_seconds: float | None = None


class RoutingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)

    def resolve_model(self, slug: str) -> tuple[str, ModelConfig] | None:
        """The canonical slug and its config for a slug or an alias."""
        if slug in self.models:
            return slug, self.models[slug]
        for name, model in self.models.items():
            if slug in model.aliases:
                return name, model
        return None


def load_config(path: str | Path | None = None) -> RoutingConfig:
    """Read and validate a routing file (the bundled one when `path` is None)."""
    source = Path(path) if path is not None else BUNDLED_CONFIG
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read file: {exc.strerror}", source=str(source)) from exc
    return parse_config(text, source=str(source))


def parse_config(text: str, *, source: str = "<string>") -> RoutingConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"not valid YAML: {exc}", source=source) from exc
    if not isinstance(data, dict):
        raise ConfigError("", "expected a mapping at the top level", source=source)
    try:
        config = msgspec.convert(data, RoutingConfig, strict=True)
    except msgspec.ValidationError as exc:
        path, message = split_validation_error(str(exc))
        raise ConfigError(path, message, source=source) from exc
    _check_references(config, source)
    return config


def split_validation_error(text: str) -> tuple[str, str]:
    """msgspec says "Expected `int`, got `str` - at `$.models[0].n`"; return ("models[0].n", "Expected ...")."""
    message, sep, at = text.rpartition(" - at `$")
    if not sep:
        message, at = text, ""
    path = at.rstrip("`").lstrip(".")
    unknown = re.search(r"contains unknown field `([^`]+)`", message)
    missing = re.search(r"missing required field `([^`]+)`", message)
    for match in (unknown, missing):
        if match:
            path = f"{path}.{match.group(1)}" if path else match.group(1)
    return path, message


def _check_references(config: RoutingConfig, source: str) -> None:
    from adapters.base import adapter_kinds

    kinds = adapter_kinds()
    for name, provider in config.providers.items():
        if provider.adapter not in kinds:
            raise ConfigError(
                f"providers.{name}.adapter",
                f"unknown adapter {provider.adapter!r}; expected one of {kinds}",
                source=source,
            )
    seen: dict[str, str] = {}
    for slug, model in config.models.items():
        for label, name in [("", slug), *((f".aliases[{i}]", a) for i, a in enumerate(model.aliases))]:
            if not re.match(_SLUG, name):
                raise ConfigError(
                    f"models.{slug}{label}", f"{name!r} is not a valid model slug", source=source
                )
            if name in seen:
                raise ConfigError(
                    f"models.{slug}{label}",
                    f"{name!r} is already used by model {seen[name]!r}",
                    source=source,
                )
            seen[name] = slug
        if not model.deployments:
            raise ConfigError(f"models.{slug}.deployments", "expected at least one deployment", source=source)
        for i, deployment in enumerate(model.deployments):
            if deployment.provider not in config.providers:
                raise ConfigError(
                    f"models.{slug}.deployments[{i}].provider",
                    f"unknown provider {deployment.provider!r}; expected one of {sorted(config.providers)}",
                    source=source,
                )


def config_path_from_env() -> str | None:
    return os.environ.get("IMAGEGATE_CONFIG") or None
