"""Image bytes from providers: magic-byte checks and the one base64 decoder.

Providers send images as raw bytes (downloads), as base64 text (OpenAI `b64_json`, A1111 `images`),
or as data URLs (A1111 previews). Every adapter decodes through `decode_base64` here, so strictness
(no whitespace or stray characters accepted) is the same everywhere.
"""

from __future__ import annotations

import binascii

from gateway.b64 import b64decode
from gateway.canonical import ProviderImage
from gateway.errors import FailureClass, ProviderError
from gateway.imaging import sniff_format
from gateway.upstream.spans import ascii_of


def decode_base64(text: str, *, data_url: bool = False) -> bytes | None:
    """Strictly decoded base64, or None when it is not base64. With `data_url`, a `data:...,`
    prefix is accepted and dropped (A1111 may send either form)."""
    if data_url and text.startswith("data:"):
        if "," not in text:
            return None
        text = text.split(",", 1)[1]
    try:
        return b64decode(text)
    except (binascii.Error, ValueError):
        return None


def require_image(provider: str, data: bytes, *, what: str = "image") -> bytes:
    """Bytes that are really a PNG, JPEG or WebP (by magic bytes, never by label), else UPSTREAM_INVALID."""
    if sniff_format(data) is None:
        raise ProviderError(
            provider, FailureClass.UPSTREAM_INVALID, f"{provider} returned a {what} that is not an image"
        )
    return data


def base64_image(provider: str, text: str, *, seed: int | None = None, what: str = "image") -> ProviderImage:
    """A provider's base64 image kept as text (decoded later only if the gateway must transcode).

    Checked here without a full decode: ASCII, a length that is a multiple of 4, and a first
    block that strictly decodes to PNG/JPEG/WebP magic bytes; else UPSTREAM_INVALID."""
    bad = ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} {what} is not base64 image data")
    if not text.isascii() or len(text) % 4 or len(text) < 16:
        raise bad
    try:
        head = b64decode(text[:16])
    except binascii.Error:
        raise bad from None
    require_image(provider, head, what=what)
    return ProviderImage(b64=text, seed=seed, b64_ascii=ascii_of(text))
