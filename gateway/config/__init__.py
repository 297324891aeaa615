"""Every section of the operator's routing YAML, at the bottom of the dependency graph.

One module per section; this package imports nothing from the rest of `gateway` (nor `adapters`),
and each feature imports its own section (`gateway.config.auth`, `.limits`, `.policy`...):

    errors.py        ConfigError (names the YAML path), msgspec's message split into path + text
    bounded_yaml.py  the YAML reader with size, depth, alias and duplicate-key bounds
    providers.py     `server:`, `providers:`, `models:`
    policy.py        `retry:`, `fallback:`, `circuit_breaker:`, a provider's `timeouts:`
    auth.py          `auth:` (chains.py: the CAIP-2 grammar it validates `chains:` with)
    limits.py        `limits:`
    routing.py       RoutingConfig (the whole file), load_config / parse_config and the cross checks
    env.py           `${VAR}` resolution in provider settings, errors that never show a value
    describe.py      check-config's view of `auth:` and `limits:`, secrets redacted

What only the adapters know (the `adapter` kinds, their settings and `options`) is checked when the
runtime is built (gateway/runtime.py). `from gateway.config import X` gives what it always gave.
"""

from gateway.config.auth import AuthConfig
from gateway.config.bounded_yaml import MAX_FILE_BYTES, YamlLimitError, load_bounded
from gateway.config.env import resolve_provider_settings, settings_error_message
from gateway.config.errors import ConfigError, split_validation_error
from gateway.config.limits import LimitsConfig
from gateway.config.policy import CircuitBreakerConfig, FallbackConfig, RetryConfig, TimeoutsConfig
from gateway.config.providers import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DeploymentConfig,
    EdgeSeconds,
    ModelConfig,
    Positive,
    PositiveInt,
    ProviderConfig,
    ServerConfig,
)
from gateway.config.routing import BUNDLED_CONFIG, RoutingConfig, load_config, parse_config

__all__ = [
    "BUNDLED_CONFIG",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_FILE_BYTES",
    "AuthConfig",
    "CircuitBreakerConfig",
    "ConfigError",
    "DeploymentConfig",
    "EdgeSeconds",
    "FallbackConfig",
    "LimitsConfig",
    "ModelConfig",
    "Positive",
    "PositiveInt",
    "ProviderConfig",
    "RetryConfig",
    "RoutingConfig",
    "ServerConfig",
    "TimeoutsConfig",
    "YamlLimitError",
    "load_bounded",
    "load_config",
    "parse_config",
    "resolve_provider_settings",
    "settings_error_message",
    "split_validation_error",
]
