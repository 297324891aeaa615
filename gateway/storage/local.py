"""The local-directory backend (the embedded default): files on disk, served by the gateway at
`GET /api/v1/files/{key}?expires=<unix>&sig=<hmac>` (gateway/api/files.py).

    sig = base64url(HMAC-SHA256(secret, "<key>\\n<expires>")), no padding

A link is refused (403) when its signature does not match (forged, or any part tampered with) or
`expires` has passed; a key that does not match `KEY_PATTERN` (a traversal attempt) or names no
live object is 404. Files older than `retention_seconds` are never served and are deleted by
`sweep`, which `put` runs at most once per `sweep_interval` in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from pathlib import Path
from urllib.parse import quote

from gateway.canonical import OutputFormat
from gateway.storage.base import KEY_PATTERN, StorageError, new_key

FILES_PATH = "/api/v1/files"


class LinkRefused(Exception):
    """A link the local backend will not serve. `status` 403 (bad/expired signature) or 404."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LocalStorage:
    kind = "local"

    def __init__(
        self,
        directory: str | Path,
        secret: bytes,
        *,
        url_ttl_seconds: int,
        retention_seconds: int,
        public_base_url: str | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the URL signing secret must not be empty")
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._secret = secret
        self.url_ttl_seconds = url_ttl_seconds
        self.retention_seconds = retention_seconds
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._sweep_interval = max(1.0, min(300.0, retention_seconds / 10))
        self._last_sweep = 0.0

    async def put(self, data: bytes, fmt: OutputFormat) -> str:
        key = new_key(fmt)
        try:
            await asyncio.to_thread(self._write, key, data)
        except OSError as exc:
            raise StorageError(f"local storage write failed: {exc.strerror or type(exc).__name__}") from exc
        if time.monotonic() - self._last_sweep >= self._sweep_interval:
            self._last_sweep = time.monotonic()
            await self.sweep()
        return key

    def url(self, key: str, *, base_url: str) -> str:
        expires = int(time.time()) + self.url_ttl_seconds
        origin = self._public_base_url or base_url.rstrip("/")
        return f"{origin}{FILES_PATH}/{quote(key)}?expires={expires}&sig={self.signature(key, expires)}"

    def signature(self, key: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def open_link(self, key: str, expires: str, sig: str) -> Path:
        """The file a link names, or LinkRefused. The key is checked against KEY_PATTERN before any
        path is built, so `..`, `/` or an encoded separator never reach the filesystem."""
        if not KEY_PATTERN.match(key):
            raise LinkRefused(404, "not_found", "no such file")
        if not expires.isdigit() or len(expires) > 12:
            raise LinkRefused(403, "url_signature_invalid", "the link's signature does not match")
        if not hmac.compare_digest(self.signature(key, int(expires)), sig):
            raise LinkRefused(403, "url_signature_invalid", "the link's signature does not match")
        if int(expires) < time.time():
            raise LinkRefused(403, "url_expired", "the link has expired; fetch the result again for a new one")
        path = self.directory / key
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            raise LinkRefused(404, "not_found", "no such file") from None
        if age > self.retention_seconds:
            raise LinkRefused(404, "not_found", "no such file (past retention)")
        return path

    async def sweep(self) -> int:
        return await asyncio.to_thread(self._sweep)

    async def aclose(self) -> None:
        return None

    def _write(self, key: str, data: bytes) -> None:
        final = self.directory / key
        partial = self.directory / f".{key}.part"
        try:
            with partial.open("xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, final)
        except OSError:
            partial.unlink(missing_ok=True)
            raise

    def _sweep(self) -> int:
        cutoff = time.time() - self.retention_seconds
        removed = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except OSError:
                    continue
        return removed
