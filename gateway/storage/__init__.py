"""Result storage (spec/jobs.md, Stored results): where `output_type: url` images and job images live.

    base.py     ResultStorage (the Protocol every backend implements), StorageError, key rules
    local.py    LocalStorage: a directory served by the gateway with HMAC-signed expiring links
    s3.py       S3Storage: any S3-compatible store through boto3, presigned GET links
    results.py  store_image: one upload, retried once; a failure is a failed image

`open_storage(config)` builds the configured backend (None when the routing file has no `storage:`).
Usage (what async jobs do with their images):

    storage = services.storage                    # ResultStorage | None
    key = await store_image(storage, png_bytes, OutputFormat.PNG)   # StorageError: the image failed
    link = storage.url(key, base_url="https://gateway.example")    # signed, expires
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping

from gateway.config.errors import ConfigError
from gateway.config.storage import LocalStorageConfig, StorageConfig
from gateway.storage.base import KEY_PATTERN, ResultStorage, StorageError, new_key
from gateway.storage.local import FILES_PATH, LinkRefused, LocalStorage
from gateway.storage.results import store_image

__all__ = [
    "FILES_PATH",
    "KEY_PATTERN",
    "LinkRefused",
    "LocalStorage",
    "ResultStorage",
    "StorageError",
    "new_key",
    "open_storage",
    "store_image",
]

log = logging.getLogger("imagegate.storage")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


async def open_storage(
    config: StorageConfig | None, *, replicas_hint: int = 1, environ: Mapping[str, str] | None = None
) -> ResultStorage | None:
    """The configured backend, or None. Raises ConfigError (naming the YAML path, never a value)
    for a `${VAR}` that is unset. `replicas_hint` > 1 (several workers, or a shared Redis) makes a
    generated signing secret a warning: links signed by one process fail on the others."""
    if config is None:
        return None
    env = os.environ if environ is None else environ
    if config.backend == "s3":
        assert config.s3 is not None  # StorageConfig.problems
        from gateway.storage.s3 import S3Storage  # boto3 is imported only when S3 is configured

        s3 = S3Storage(
            config.s3,
            url_ttl_seconds=config.url_ttl_seconds,
            retention_seconds=config.retention_seconds,
            timeout_seconds=config.upload_timeout_seconds,
            access_key_id=_secret(config.s3.access_key_id, "storage.s3.access_key_id", env),
            secret_access_key=_secret(config.s3.secret_access_key, "storage.s3.secret_access_key", env),
        )
        if config.s3.apply_lifecycle:
            await s3.apply_lifecycle()
        return s3
    local = config.local or LocalStorageConfig()
    secret = _secret(local.secret, "storage.local.secret", env)
    if secret is None:
        if replicas_hint > 1:
            log.warning(
                "storage.local.secret is not set: each process signs links with its own random key, so "
                "a link works only on the process that made it; set it to the same ${VAR} everywhere"
            )
        key = secrets.token_bytes(32)
    else:
        key = secret.encode()
    directory = local.directory or os.path.join(tempfile.gettempdir(), f"imagegate-results-{os.getuid()}")
    return LocalStorage(
        directory,
        key,
        url_ttl_seconds=config.url_ttl_seconds,
        retention_seconds=config.retention_seconds,
        public_base_url=local.public_base_url,
    )


def _secret(value: str | None, path: str, env: Mapping[str, str]) -> str | None:
    if value is None:
        return None
    match = _ENV_REF.match(value)
    if match is None:
        return value
    resolved = env.get(match.group(1))
    if not resolved:
        raise ConfigError(path, f"environment variable {match.group(1)} is not set")
    return resolved
