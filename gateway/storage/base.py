"""The result-storage contract: where stored images live and how a client is handed a link to one.

    put(data, fmt)                -> key    write one image under a new unguessable key
    url(key, base_url=...)        -> str    a signed link that works for `storage.url_ttl_seconds`
    sweep()                       -> int    drop objects older than `storage.retention_seconds`
    aclose()

Callers (the `output_type: url` responders, async jobs) treat any `StorageError` as the image
having failed: a result never carries a link to an object that was not written. `put` is not
retried here; `gateway.storage.results.store_image` retries once, as spec/jobs.md asks.

Keys are `<32 url-safe random chars>.<png|jpeg|webp>` (192 bits from `secrets`): unguessable, so a
key is never derived from the account, the request or a counter; and checkable (`KEY_PATTERN`),
so a key from a URL can never name a path outside the storage.
"""

from __future__ import annotations

import re
import secrets
from typing import Protocol

from gateway.canonical import OutputFormat

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}\.(png|jpeg|webp)$")


class StorageError(Exception):
    """An object could not be written (or a link made): the image it was for has failed."""


class ResultStorage(Protocol):
    """A backend of the result storage (gateway/storage/local.py, gateway/storage/s3.py)."""

    @property
    def kind(self) -> str:
        """"local" or "s3" (logs, metrics labels)."""
        ...

    async def put(self, data: bytes, fmt: OutputFormat) -> str:
        """Write `data` as a new object and return its key; raise StorageError when it was not
        durably written (a partial object is removed)."""
        ...

    def url(self, key: str, *, base_url: str) -> str:
        """A link to `key` that expires after the configured URL TTL. `base_url` is the origin the
        client reached the gateway at (used by the local backend when no `public_base_url` is set)."""
        ...

    async def sweep(self) -> int:
        """Delete objects past retention; the number deleted (0 where the backend expires them itself)."""
        ...

    async def aclose(self) -> None: ...


def new_key(fmt: OutputFormat) -> str:
    """A fresh object key: 24 random bytes as 32 url-safe characters, plus the format's extension."""
    return f"{secrets.token_urlsafe(24)}.{fmt.value}"


def media_type_of(key: str) -> str:
    return OutputFormat(key.rsplit(".", 1)[1]).media_type
