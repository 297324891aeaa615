"""AUTOMATIC1111, pure: the txt2img / img2img answer -> images with their seeds, HTTP errors ->
`ProviderError` (adapters/a1111.py does the I/O and the request encoding)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway import upstream
from gateway.canonical import ProviderImage
from gateway.errors import FailureClass, ProviderError


def decode_response(provider: str, payload: object) -> tuple[list[ProviderImage], dict[str, object]]:
    """Images sliced past any grid (`index_of_first_image`), each with its seed from `info.all_seeds`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 response has no images list")
    info = _info(payload.get("info"))
    seeds = [s for s in info.get("all_seeds", []) if isinstance(s, int)]
    first = info.get("index_of_first_image", 0)
    first = first if isinstance(first, int) and first >= 0 else 0
    blobs = payload["images"][first : first + len(seeds)] if seeds else payload["images"][first:]
    images = []
    for i, blob in enumerate(blobs):
        data = _b64(provider, blob)
        images.append(ProviderImage(data=upstream.require_image(provider, data), seed=_at(seeds, i)))
    if not images:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 returned no images")
    raw = upstream.elide_base64({**payload, "info": info})
    assert isinstance(raw, dict)
    return images, raw


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """A1111's api_middleware renders `{error: <ExceptionClass>, ...}`; FastAPI's own 404 has no `error`."""
    parsed = upstream.parse_error_body(body)
    code = parsed.get("error") if isinstance(parsed, dict) and isinstance(parsed.get("error"), str) else None
    failure = upstream.status_failure(status)
    if status == 404 and code is not None:
        # An API-raised 404 ("Sampler not found", script, style): what the operator configured for
        # this deployment is missing on the server. Not the client's fault: fall back, 502 at the end.
        failure = FailureClass.MODEL_UNAVAILABLE
    message = f"a1111 HTTP {status}" + (f" ({code})" if code else "")
    retry = upstream.retry_hint(failure, headers)
    # The executor stamps the deployment's provider name on every ProviderError.
    return ProviderError("a1111", failure, message, status=status, retry_after=retry, provider_code=code)


def _info(value: object) -> dict[str, Any]:
    """`info` is a JSON *string* (Processed.js()); parse it, tolerate an object or garbage."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _b64(provider: str, blob: object) -> bytes:
    if not isinstance(blob, str):
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 image is not a base64 string")
    data = upstream.decode_base64(blob, data_url=True)
    if data is None:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "a1111 image is not base64")
    return data


def _at(seeds: list[int], i: int) -> int | None:
    return seeds[i] if i < len(seeds) else None
