"""OpenAI's error shape for everything under /v1 (spec/openai-compat.md, "Errors"), so the SDKs raise
their typed exceptions: `{"error": {"message", "type", "param", "code"}}` with the canonical status,
and `code` carrying the canonical code. The app's exception handlers (gateway/api/errors.py) pick this
shape by path, so unknown /v1 paths (404) and wrong methods (405) get it too, not only the handlers'
own refusals.
"""

from __future__ import annotations

import msgspec
from litestar import Response

_ENCODER = msgspec.json.Encoder()
PREFIX = "/v1"


class OpenAIErrorDetail(msgspec.Struct, frozen=True):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(msgspec.Struct, frozen=True):
    error: OpenAIErrorDetail


def is_openai_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def detail(status: int, code: str, message: str, param: str | None) -> OpenAIErrorDetail:
    return OpenAIErrorDetail(message=message, type=error_type(status), param=param, code=code)


def openai_error_response(
    status: int, code: str, message: str, param: str | None, headers: dict[str, str]
) -> Response[bytes]:
    body = OpenAIError(detail(status, code, message, param))
    return Response(content=_ENCODER.encode(body), status_code=status, media_type="application/json", headers=headers)
