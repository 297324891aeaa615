"""`check-config`'s view of the `auth:`, `limits:`, `idempotency:` and `storage:` sections: every field as it will apply.

Printed generically from the Structs, so a field added to AuthConfig or LimitsConfig shows up
without touching this module, and redacted generically, so none can print a secret: a field whose
name is secret-like (`api_key`, `password`, `token`...), a URL's userinfo, and long hex or
key-shaped strings are shown as `<redacted>`.
"""

from __future__ import annotations

import re

import msgspec

from gateway.config.routing import RoutingConfig

REDACTED = "<redacted>"
_SECRET_WORDS = {"key", "apikey", "secret", "password", "passwd", "token", "credential", "credentials",
                 "private", "mnemonic", "cookie", "signature", "pass"}
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
_SECRET_SHAPED = re.compile(r"^(0x)?[0-9a-fA-F]{32,}$|^(sk|pk|rk)[-_]\S{8,}$")


def describe_sections(config: RoutingConfig) -> list[str]:
    lines = ["auth:"]
    auth = msgspec.to_builtins(config.auth)
    # Key names only: the sha256 of a secret is not the secret, but it is an offline guessing target.
    auth["api_keys"] = [key.name for key in config.auth.api_keys]
    if not config.auth.domains:
        auth["domains"] = "(none: derived at start-up from the address `serve` listens on)"
    lines.extend(describe_fields(auth, "  "))
    lines.append("limits:")
    lines.extend(describe_fields(msgspec.to_builtins(config.limits), "  "))
    lines.append("idempotency:")
    lines.extend(describe_fields(msgspec.to_builtins(config.idempotency), "  "))
    lines.append("storage:" if config.storage is not None else "storage: (none: output_type url is refused)")
    lines.extend(describe_fields(msgspec.to_builtins(config.storage), "  ") if config.storage is not None else [])
    return lines


def describe_fields(value: object, indent: str = "  ", prefix: str = "") -> list[str]:
    """`name: value` per leaf; nested mappings as dotted names; lists on one line."""
    if isinstance(value, dict):
        if not value and prefix:
            return [f"{indent}{prefix}: (none)"]
        lines: list[str] = []
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if _secret_name(str(key)):
                lines.append(f"{indent}{name}: {REDACTED}")
            else:
                lines.extend(describe_fields(item, indent, name))
        return lines
    return [f"{indent}{prefix}: {_show(value)}"]


def _show(value: object) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_show(item) for item in value) if value else "(none)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {REDACTED if _secret_name(str(k)) else _show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `30`, not `30.0`
    text = str(value)
    if _SECRET_SHAPED.match(text):
        return REDACTED
    return _USERINFO.sub(f"{REDACTED}@", text)


def _secret_name(name: str) -> bool:
    return any(word in _SECRET_WORDS for word in re.split(r"[_\W]+", name.lower()))
