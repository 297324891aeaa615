"""Storing finished images: one upload per image, retried once; a failure is that image's failure."""

from __future__ import annotations

import logging

from gateway.canonical import OutputFormat
from gateway.metrics import STORAGE_UPLOADS
from gateway.storage.base import ResultStorage, StorageError

log = logging.getLogger("imagegate.storage")


async def store_image(storage: ResultStorage, data: bytes, fmt: OutputFormat) -> str:
    """Write one image and return its key; try twice, then raise the last StorageError."""
    for attempt in (1, 2):
        try:
            key = await storage.put(data, fmt)
        except StorageError as exc:
            STORAGE_UPLOADS.labels(storage.kind, "error").inc()
            log.warning("result upload failed (attempt %d of 2): %s", attempt, exc)
            if attempt == 2:
                raise
            continue
        STORAGE_UPLOADS.labels(storage.kind, "ok").inc()
        return key
    raise AssertionError("unreachable")
