"""ConfigError, the one error a routing file can raise, and msgspec's message split into path + text."""

from __future__ import annotations

import re


class ConfigError(ValueError):
    """A routing file that cannot be used. `path` is the dotted key path (`models.x.deployments[0]`)."""

    def __init__(self, path: str, message: str, *, source: str = "") -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path or '<root>'}: {message}")
        self.path = path
        self.message = message


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

