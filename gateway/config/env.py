"""`${VAR}` in a provider's `settings` or `base_url`: resolved when the runtime is built, never shown.

A missing or empty variable disables that provider (`resolve_provider_settings`), and a resolved
value never appears in an error (`settings_error_message`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from gateway.config.providers import ProviderConfig

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # a repr()-quoted value


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
