"""GET /api/v1/files/{key}: the local storage backend's signed, expiring links (gateway/storage/local.py).

No authentication: the signature is the capability (the link is what the generate response or the
job handed its account). Forged, tampered or expired links are 403; unknown keys, keys that are not
storage keys (traversal attempts) and any request when the local backend is not configured are 404.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Response, get
from litestar.params import FromPath
from litestar.response import File

from gateway.api.errors import error_response
from gateway.api.types import HttpRequest
from gateway.schemas import ErrorDetail
from gateway.services import Services
from gateway.storage import FILES_PATH, LinkRefused, LocalStorage
from gateway.storage.base import media_type_of


@get(f"{FILES_PATH}/{{key:str}}", summary="A stored result (signed link)", operation_id="getStoredFile")
async def get_stored_file(request: HttpRequest, key: FromPath[str]) -> Response[bytes] | File:
    services: Services = request.app.state.services
    storage = services.storage
    if not isinstance(storage, LocalStorage):
        return error_response(404, ErrorDetail(code="not_found", message="no such file"))
    expires = request.query_params.get("expires", "")
    try:
        path = storage.open_link(key, expires, request.query_params.get("sig", ""))
    except LinkRefused as refused:
        return error_response(refused.status, ErrorDetail(code=refused.code, message=refused.message))
    remaining = max(0, int(expires) - int(time.time()))
    return File(
        path=path,
        media_type=media_type_of(key),
        content_disposition_type="inline",
        headers={"Cache-Control": f"private, max-age={remaining}", "X-Content-Type-Options": "nosniff"},
    )


def describe_files(paths: dict[str, Any], error: dict[str, Any]) -> None:
    """The OpenAPI entry of the signed-link route: its query, the image bodies, 403 and 404."""
    operation = paths[f"{FILES_PATH}/{{key}}"]["get"]
    operation["parameters"] = [
        *operation.get("parameters", []),
        {"name": "expires", "in": "query", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
        {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    binary = {"schema": {"type": "string", "format": "binary"}}
    operation["responses"] = {
        "200": {"description": "The stored image", "content": {t: binary for t in ("image/png", "image/jpeg", "image/webp")}},
        "403": {"description": "url_signature_invalid / url_expired", "content": error},
        "404": {"description": "not_found (unknown key, not a storage key, or no local storage)", "content": error},
    }
