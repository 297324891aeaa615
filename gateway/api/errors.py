"""The one exception handler: every error leaves as {"error": {"code", "message", "param"?}}; under
/v1 in OpenAI's shape instead (gateway/api/openai_errors.py), with the same status and code."""

from __future__ import annotations

import logging
import math

import msgspec
from litestar import Response
from litestar.exceptions import HTTPException

from gateway.api.openai_errors import is_openai_path, openai_error_response
from gateway.api.types import HttpRequest
from gateway.errors import GatewayError
from gateway.schemas import ErrorDetail, ErrorResponse

log = logging.getLogger("imagegate.api")
_ENCODER = msgspec.json.Encoder()
_HTTP_CODES = {
    400: "invalid_request",
    401: "auth_missing",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_response(
    status: int, detail: ErrorDetail, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=_ENCODER.encode(ErrorResponse(error=detail)),
        status_code=status,
        media_type="application/json",
        headers=headers or {},
    )


def handle_gateway_error(request: HttpRequest, exc: GatewayError) -> Response[bytes]:
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if is_openai_path(request.url.path):
        return openai_error_response(exc.status_code, exc.error_code, exc.message, exc.param, headers)
    detail = ErrorDetail(code=exc.error_code, message=exc.message, param=exc.param)
    return error_response(exc.status_code, detail, headers)


def handle_http_exception(request: HttpRequest, exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
    message = exc.detail if status < 500 else "internal error"
    if is_openai_path(request.url.path):
        return openai_error_response(status, code, message, None, dict(exc.headers or {}))
    return error_response(status, ErrorDetail(code=code, message=message), dict(exc.headers or {}))


def handle_unexpected(request: HttpRequest, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if is_openai_path(request.url.path):
        return openai_error_response(500, "internal_error", "internal error", None, {})
    return error_response(500, ErrorDetail(code="internal_error", message="internal error"))
