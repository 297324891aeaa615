"""The operator's routing YAML, decoded into Structs. Every error names the path of the bad key.

Shape (see docs/routing.md for the full reference):

    server:          limits on requests (body size, prompt length, steps), the default deadline, and
                     the HTTP edge (header size/count, read/send timeouts, connections: gateway/edge.py)
    providers:       name -> {adapter, base_url, settings, timeouts, max_concurrency, idempotent, ...}
    models:          canonical slug -> {aliases, strategy, deployments: [{provider, model, ...}],
                     fallback_models, deadline_seconds}
    retry, fallback, circuit_breaker:   routing policy (gateway/config/policy.py)
    auth:            SIWX policy (gateway/config/auth.py)
    limits:          rate limits, concurrency leases, Redis discipline (gateway/config/limits.py)

`${VAR}` in a provider's `settings` or `base_url` is replaced from the environment when the runtime
is built (gateway/config/env.py). The file is parsed within bounds (size, depth, aliases expanded,
duplicate keys: gateway/config/bounded_yaml.py). What only the adapters know — that a provider's
`adapter` kind exists, its `settings` and each deployment's `options` — is checked when the runtime
is built (gateway/runtime.py `check_adapters`), so this package imports nothing above it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gateway.config.auth import AuthConfig, check_profile
from gateway.config.bounded_yaml import MAX_FILE_BYTES, YamlLimitError, load_bounded
from gateway.config.cost import BudgetsConfig
from gateway.config.errors import ConfigError, split_validation_error
from gateway.config.idempotency import IdempotencyConfig
from gateway.config.jobs import JobsConfig, WebhooksConfig
from gateway.config.limits import LimitsConfig
from gateway.config.policy import CircuitBreakerConfig, FallbackConfig, RetryConfig
from gateway.config.providers import ModelConfig, ProviderConfig, ServerConfig
from gateway.config.storage import StorageConfig

BUNDLED_CONFIG = Path(__file__).parent.parent / "default_routing.yaml"
_SLUG = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"


class RoutingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    fallback: FallbackConfig = msgspec.field(default_factory=FallbackConfig)
    circuit_breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)  # gateway/config/limits.py
    budgets: BudgetsConfig | None = None  # gateway/config/cost.py; None: no budgets
    idempotency: IdempotencyConfig = msgspec.field(default_factory=IdempotencyConfig)  # config/idempotency.py
    storage: StorageConfig | None = None  # gateway/config/storage.py; None: no `output_type: url`
    jobs: JobsConfig = msgspec.field(default_factory=JobsConfig)  # gateway/config/jobs.py
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)

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
        with source.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # never more: a huge file is refused unread
    except OSError as exc:
        raise ConfigError("", f"cannot read file: {exc.strerror}", source=str(source)) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError("", f"file larger than {MAX_FILE_BYTES // 1024} KiB", source=str(source))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not UTF-8 (byte {exc.start})", source=str(source)) from exc
    return parse_config(text, source=str(source))


def parse_config(text: str, *, source: str = "<string>") -> RoutingConfig:
    try:
        data = load_bounded(text)
    except YamlLimitError as exc:
        raise ConfigError(exc.path, exc.message, source=source) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError("", f"not valid YAML: {exc.problem or exc.context}{where}", source=source) from exc
    except yaml.YAMLError as exc:  # ReaderError: a control character, with its position
        raise ConfigError("", f"not valid YAML: {' '.join(str(exc).split())}", source=source) from exc
    except (RecursionError, MemoryError) as exc:  # bounded above; never a traceback either way
        raise ConfigError("", f"not valid YAML: {type(exc).__name__}", source=source) from exc
    if not isinstance(data, dict):
        raise ConfigError("", "expected a mapping at the top level", source=source)
    _check_named_entries(data, source)
    if (conflict := check_profile(data.get("auth"))) is not None:
        raise ConfigError(*conflict, source=source)
    try:
        config = msgspec.convert(data, RoutingConfig, strict=True)
    except msgspec.ValidationError as exc:
        path, message = split_validation_error(str(exc))
        raise ConfigError(path, message, source=source) from exc
    _check_references(config, source)
    _check_limits(config, source)
    for path, message in config.storage.problems() if config.storage is not None else ():
        raise ConfigError(path, message, source=source)
    deadlines = [config.server.request_deadline_seconds, *(m.deadline_seconds or 0 for m in config.models.values())]
    for path, message in config.idempotency.problems(max(deadlines)):
        raise ConfigError(path, message, source=source)
    return config


def _check_named_entries(data: dict[str, Any], source: str) -> None:
    """Decode each provider and model on its own, so an error names it (msgspec says `[...]` for a
    mapping key): `models.flux-pro.deployments[0].weight`, not `models[...].deployments[0].weight`."""
    for section, entry_type in (("providers", ProviderConfig), ("models", ModelConfig)):
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            try:
                msgspec.convert(entry, entry_type, strict=True)
            except msgspec.ValidationError as exc:
                path, message = split_validation_error(str(exc))
                joined = f"{section}.{name}" + (path if not path or path.startswith("[") else f".{path}")
                raise ConfigError(joined, message, source=source) from exc


def _check_references(config: RoutingConfig, source: str) -> None:
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
        _check_model(config, slug, model, source)


def _check_model(config: RoutingConfig, slug: str, model: ModelConfig, source: str) -> None:
    if not model.deployments:
        raise ConfigError(f"models.{slug}.deployments", "expected at least one deployment", source=source)
    for i, deployment in enumerate(model.deployments):
        if deployment.provider not in config.providers:
            raise ConfigError(
                f"models.{slug}.deployments[{i}].provider",
                f"unknown provider {deployment.provider!r}; expected one of {sorted(config.providers)}",
                source=source,
            )
    if model.strategy == "weighted" and not any(d.weight > 0 for d in model.deployments):
        raise ConfigError(f"models.{slug}.deployments", "every weight is 0", source=source)
    for i, other in enumerate(model.fallback_models):
        target = config.resolve_model(other)
        if target is None or target[0] == slug:
            why = "is this model" if target else "is not a configured model or alias"
            raise ConfigError(f"models.{slug}.fallback_models[{i}]", f"{other!r} {why}", source=source)


def _check_limits(config: RoutingConfig, source: str) -> None:
    for path in config.limits.unknown_models(set(config.models)):
        raise ConfigError(path, "not a model of this routing file (use the canonical slug)", source=source)
    for i, key in enumerate(config.auth.api_keys):
        for model in key.limits.models if key.limits is not None else ():
            if model not in config.models:
                path = f"auth.api_keys[{i}].limits.models.{model}"
                raise ConfigError(path, "not a model of this routing file (use the canonical slug)", source=source)
