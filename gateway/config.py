"""The operator's routing YAML, decoded into Structs. Every error names the path of the bad key.

Shape (see docs/routing.md for the full reference):

    server:          limits on requests (body size, prompt length, steps), the default deadline, and
                     the HTTP edge (header size/count, read/send timeouts, connections: gateway/edge.py)
    providers:       name -> {adapter, base_url, settings, timeouts, max_concurrency, idempotent, ...}
    models:          canonical slug -> {aliases, strategy, deployments: [{provider, model, ...}],
                     fallback_models, deadline_seconds}
    retry, fallback, circuit_breaker:   routing policy (gateway/policy_config.py)
    auth:            SIWX policy (gateway/auth/config.py)
    limits:          rate limits, concurrency leases, Redis discipline (gateway/limits/config.py)

`${VAR}` in a provider's `settings` or `base_url` is replaced from the environment when the runtime
is built (`resolve_provider_settings`); a missing or empty variable disables that provider, and a
resolved value never appears in an error (`settings_error_message`). The file is parsed within
bounds (size, depth, aliases expanded, duplicate keys: gateway/config_yaml.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from gateway.auth.config import AuthConfig
from gateway.config_yaml import MAX_FILE_BYTES, YamlLimitError, load_bounded
from gateway.http_client import DEFAULT_MAX_RESPONSE_BYTES
from gateway.limits.config import LimitsConfig
from gateway.policy_config import CircuitBreakerConfig, FallbackConfig, RetryConfig, TimeoutsConfig

BUNDLED_CONFIG = Path(__file__).with_name("default_routing.yaml")
_SLUG = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # a repr()-quoted value
Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
# Bounded: a timer of 1e300 s is an OverflowError in the event loop, not "no timeout".
EdgeSeconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]


class ConfigError(ValueError):
    """A routing file that cannot be used. `path` is the dotted key path (`models.x.deployments[0]`)."""

    def __init__(self, path: str, message: str, *, source: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path or '<root>'}: {message}")
        self.path = path
        self.message = message


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_body_bytes: PositiveInt = 1024 * 1024
    max_prompt_chars: PositiveInt = 32000
    max_steps: PositiveInt = 150
    request_deadline_seconds: Positive = 120.0
    watch_config_seconds: Annotated[float, msgspec.Meta(ge=0)] = 0.0  # > 0: poll the file for changes
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


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    adapter: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    base_url: str | None = None  # passed to the adapter as settings.base_url
    timeouts: TimeoutsConfig = msgspec.field(default_factory=TimeoutsConfig)
    max_concurrency: PositiveInt | None = None  # in-flight calls per deployment (None: unlimited)
    lease_wait_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0  # wait for a free slot, then fall back
    idempotent: bool = False  # true: a call whose outcome is unknown may be retried (never double-bills)
    retry_on_5xx: bool = True  # retry explicit 500/502/503/504 answers
    # Largest provider response body (JSON, download or stream, after gzip), read as it arrives and
    # abandoned at the cap (UPSTREAM_INVALID -> fallback; 502 at the end). docs/providers.md.
    max_response_bytes: Annotated[int, msgspec.Meta(ge=65536)] = DEFAULT_MAX_RESPONSE_BYTES


class DeploymentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    provider: str
    model: str  # the provider's own model name
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # per-deployment adapter overrides
    weight: Annotated[float, msgspec.Meta(ge=0)] = 1.0  # share of traffic among equals (`weighted`)
    priority: int = 0  # `weighted`: lower tiers are tried first; equals share traffic by weight
    max_concurrency: PositiveInt | None = None  # overrides the provider's
    idempotent: bool | None = None  # overrides the provider's
    retry_on_5xx: bool | None = None  # overrides the provider's


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    deployments: list[DeploymentConfig]
    aliases: list[str] = msgspec.field(default_factory=list)
    description: str = ""
    deadline_seconds: Positive | None = None
    strategy: Literal["fallback", "weighted"] = "fallback"
    fallback_models: list[str] = msgspec.field(default_factory=list)  # tried after every own deployment


class RoutingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    fallback: FallbackConfig = msgspec.field(default_factory=FallbackConfig)
    circuit_breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)  # gateway/limits/config.py

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
    try:
        config = msgspec.convert(data, RoutingConfig, strict=True)
    except msgspec.ValidationError as exc:
        path, message = split_validation_error(str(exc))
        raise ConfigError(path, message, source=source) from exc
    _check_references(config, source)
    _check_limits(config, source)
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
    from adapters.registry import adapter_kinds

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
        _check_options(config, f"models.{slug}.deployments[{i}].options", deployment, source)
    if model.strategy == "weighted" and not any(d.weight > 0 for d in model.deployments):
        raise ConfigError(f"models.{slug}.deployments", "every weight is 0", source=source)
    for i, other in enumerate(model.fallback_models):
        target = config.resolve_model(other)
        if target is None or target[0] == slug:
            why = "is this model" if target else "is not a configured model or alias"
            raise ConfigError(f"models.{slug}.fallback_models[{i}]", f"{other!r} {why}", source=source)


def _check_options(config: RoutingConfig, path: str, deployment: DeploymentConfig, source: str) -> None:
    """A deployment's `options:` against the Struct its adapter declares: a misspelt or mistyped
    key is refused here (check-config, load, reload), never silently ignored at request time."""
    from adapters.base import AdapterSettingsError
    from adapters.registry import check_options

    try:
        check_options(config.providers[deployment.provider].adapter, deployment.options)
    except AdapterSettingsError as exc:
        key = exc.path or split_validation_error(str(exc))[0]
        raise ConfigError(f"{path}.{key}" if key else path, str(exc), source=source) from exc


def resolve_provider_settings(
    provider: ProviderConfig, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The provider's adapter settings with `${VAR}` replaced, and the names of missing variables.

    An unset or empty variable is "missing": the caller disables the provider rather than send an
    empty credential. Values never appear in errors or logs, only variable names.
    """
    env = os.environ if environ is None else environ
    missing: list[str] = []

    def substitute(value: object) -> object:
        if isinstance(value, str):
            for name in _ENV_REF.findall(value):
                if not env.get(name) and name not in missing:
                    missing.append(name)
            return _ENV_REF.sub(lambda m: env.get(m.group(1)) or "", value)
        if isinstance(value, dict):
            return {key: substitute(item) for key, item in value.items()}
        if isinstance(value, list):
            return [substitute(item) for item in value]
        return value

    settings = dict(provider.settings)
    if provider.base_url is not None:
        settings.setdefault("base_url", provider.base_url)
    resolved = substitute(settings)
    assert isinstance(resolved, dict)
    return resolved, missing


def settings_error_message(
    provider: ProviderConfig, path: str, message: str, environ: Mapping[str, str] | None = None
) -> str:
    """An adapter-settings error that is safe to print. msgspec echoes the bad value ("Invalid enum
    value 'sk-...'"), which for a `${VAR}` setting is the resolved variable, maybe a secret: when the
    value at `path` (every setting, without a path) came from `${VAR}`, quoted values are dropped
    and the variable is named instead."""
    raw: dict[str, Any] = dict(provider.settings)
    if provider.base_url is not None:
        raw.setdefault("base_url", provider.base_url)
    names = sorted(_env_refs(_at_path(raw, path)))
    if not names:
        return message
    env = os.environ if environ is None else environ
    values = [value for name in names if (value := env.get(name))]
    safe = _QUOTED.sub("", message).strip() or "invalid value"
    if any(value in safe or repr(value)[1:-1] in safe for value in values):
        safe = "invalid value"
    return f"{safe} (value from {', '.join('${' + name + '}' for name in names)}, not shown)"


def _env_refs(value: object) -> set[str]:
    if isinstance(value, str):
        return set(_ENV_REF.findall(value))
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(_env_refs(item) for item in items))


def _at_path(data: object, path: str) -> object:
    """The value at `a.b[0]` below `data`; `data` itself when the path leads nowhere."""
    node = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if isinstance(node, list) and part.startswith("[") and int(part[1:-1]) < len(node):
            node = node[int(part[1:-1])]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return data
    return node


def _check_limits(config: RoutingConfig, source: str) -> None:
    for path in config.limits.unknown_models(set(config.models)):
        raise ConfigError(path, "not a model of this routing file (use the canonical slug)", source=source)


def config_path_from_env() -> str | None:
    return os.environ.get("IMAGEGATE_CONFIG") or None
