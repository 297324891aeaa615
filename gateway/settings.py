"""Process settings: where the routing file is, where Redis is, where to listen. Loaded once in main."""

from __future__ import annotations

import os
from typing import Annotated

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    config_path: str | None = None  # None: the routing YAML bundled in the package
    redis_url: str | None = None  # None: in-memory store (state is per process)
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000  # over 65535 would wrap around silently
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    log_level: str = "info"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Environment first (IMAGEGATE_CONFIG, REDIS_URL, IMAGEGATE_HOST/PORT/WORKERS), then overrides.
        Raises msgspec.ValidationError naming the setting (`$.port`) for a value that cannot be one."""
        values: dict[str, object] = {
            "config_path": os.environ.get("IMAGEGATE_CONFIG") or None,
            "redis_url": os.environ.get("REDIS_URL") or None,
            "host": os.environ.get("IMAGEGATE_HOST", "127.0.0.1"),
            "port": os.environ.get("IMAGEGATE_PORT", "8000"),  # text: converted (and checked) below
            "workers": os.environ.get("IMAGEGATE_WORKERS", "1"),
            "log_level": os.environ.get("IMAGEGATE_LOG_LEVEL", "info"),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return msgspec.convert(values, cls, strict=False)
