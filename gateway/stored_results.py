"""`output_type: url`: a finished Result's images written to the result storage (gateway/storage/)
and handed out as signed, expiring links instead of bytes.

A failed upload (after its one retry) is a failed image, never a link to nothing: the stored images
are renumbered 0.. as `finish` numbers a partial result, the answer becomes `partial` with the
shortfall's reason, and when no image could be stored the request fails with 502 `storage_error`.
"""

from __future__ import annotations

import asyncio
import dataclasses

import msgspec

from gateway.canonical import OutputType
from gateway.errors import InvalidRequest, ResultStorageFailed
from gateway.generation import FinishedImage, Result, Shortfall
from gateway.storage import ResultStorage, StorageError, store_image


def require_storage(storage: ResultStorage | None, output_type: OutputType, param: str) -> None:
    """400 before admission (no nonce or Idempotency-Key spent) when links are asked for without storage."""
    if output_type is OutputType.URL and storage is None:
        raise InvalidRequest(
            f"{param} 'url' needs result storage, which this gateway has not configured "
            "(the routing file's `storage:` section); ask for data_url instead",
            param=param,
        )


async def store_result(storage: ResultStorage | None, result: Result, *, base_url: str) -> Result:
    """`result` with every image replaced by a link (bytes dropped), or ResultStorageFailed."""
    if storage is None:  # require_storage ran at the door; a reload cannot remove storage
        raise ResultStorageFailed("result storage is not configured")
    links = await asyncio.gather(*(_link(storage, image, base_url) for image in result.images))
    stored: list[FinishedImage] = []
    for image, link in zip(result.images, links, strict=True):
        if link is not None:
            stored.append(dataclasses.replace(image, index=len(stored), data=b"", b64=None, url=link))
    lost = len(result.images) - len(stored)
    if not stored:
        raise ResultStorageFailed(f"{lost} image(s) were generated but could not be stored; nothing was kept")
    return msgspec.structs.replace(result, images=stored, shortfall=_shortfall(result.shortfall, lost, len(result.images)))


async def _link(storage: ResultStorage, image: FinishedImage, base_url: str) -> str | None:
    try:
        key = await store_image(storage, image.image_bytes(), image.info.format)
        return storage.url(key, base_url=base_url)
    except StorageError:
        return None


def _shortfall(previous: Shortfall | None, lost: int, produced: int) -> Shortfall | None:
    if lost == 0:
        return previous
    message = f"{lost} of {produced} generated images could not be stored"
    if previous is None:
        return Shortfall(code="storage_error", message=message)
    return Shortfall(code=previous.code, message=f"{previous.message}; {message}")
