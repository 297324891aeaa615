"""The OpenAI Images API at /v1 (spec/openai-compat.md): POST /v1/images/generations, GET /v1/models.

A codec like gateway/api/images.py: OpenAI's request fields -> the canonical request (validated by
the same decoder as the canonical endpoint, so bounds and messages agree), shared admission and
pipeline, then the neutral Result -> OpenAI's response. The gateway's own facts travel in headers
(X-Provider, X-Imagegate-Warnings; X-Request-Id is stamped on every response), never in `data`.
Errors on these routes use OpenAI's shape so the SDKs raise their typed exceptions.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import time
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.exceptions import HTTPException
from litestar.response import Stream
from litestar.types import ExceptionHandlersMap

from gateway.api.admit import admit, read_json_body
from gateway.api.disconnect import cancel_on_disconnect
from gateway.api.openai_stream import Usage, openai_stream
from gateway.api.request_id import request_id_of
from gateway.api.types import HttpRequest
from gateway.config.cost import format_usd
from gateway.errors import GatewayError, InvalidRequest
from gateway.generation import Delivery, Job, Operation, Result, run
from gateway.schemas import decode_generate_request
from gateway.services import Services

log = logging.getLogger("imagegate.api")
_ENCODER = msgspec.json.Encoder()
_STARTED = int(time.time())  # `created` of every model: when this process started serving them
_SIZE = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")
_QUALITY = {"standard": "medium", "hd": "high", "low": "low", "medium": "medium", "high": "high", "auto": "auto"}
# Fields with no canonical meaning: the value that means "nothing asked" is silent, any other is
# reported as dropped (no provider in the pipeline receives them yet).
_DEFAULTS: dict[str, object] = {"background": "auto", "moderation": "auto", "output_compression": 100}


class OpenAIImageRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """OpenAI's `images.generate` body. Unknown fields are refused, as OpenAI refuses them."""

    prompt: str
    model: str | None = None
    n: int | None = None
    size: str | None = None
    quality: Literal["standard", "hd", "low", "medium", "high", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    response_format: Literal["b64_json", "url"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    stream: bool | None = None
    partial_images: Annotated[int, msgspec.Meta(ge=0, le=3)] | None = None
    user: str | None = None


_DECODER = msgspec.json.Decoder(OpenAIImageRequest)


class OpenAIImage(msgspec.Struct, frozen=True, omit_defaults=True):
    b64_json: str


class OpenAIImagesResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    created: int
    data: list[OpenAIImage]
    output_format: str
    size: str
    quality: str
    background: str | None = None
    usage: Usage | None = None  # OpenAI's token counts are not known here; `cost_usd` is ours


class OpenAIModel(msgspec.Struct, frozen=True):
    id: str
    object: str
    created: int
    owned_by: str


class OpenAIModels(msgspec.Struct, frozen=True):
    object: str
    data: list[OpenAIModel]


class OpenAIErrorDetail(msgspec.Struct, frozen=True):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(msgspec.Struct, frozen=True):
    error: OpenAIErrorDetail


def decode_openai_request(body: bytes) -> tuple[OpenAIImageRequest, dict[str, Any], list[str]]:
    """The OpenAI body, the canonical wire body it maps to, and warnings for dropped fields."""
    try:
        req = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = re.search(r"`\$\.(\w+)`|field `(\w+)`", text)
        raise InvalidRequest(text.replace("`$.", "`"), param=(match.group(1) or match.group(2)) if match else None) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    if req.model is None:
        raise InvalidRequest("model is required (GET /v1/models lists the models)", param="model")
    if req.response_format == "url":
        raise InvalidRequest(
            "response_format: url needs result storage, which this gateway has not configured; "
            "use response_format: b64_json",
            param="response_format",
        )
    wire: dict[str, Any] = {"model": req.model, "prompt": req.prompt}
    if req.n is not None:
        wire["n"] = req.n
    if req.size is not None and req.size != "auto":
        match = _SIZE.match(req.size)
        if match is None:
            raise InvalidRequest(f"size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto, not {req.size!r}", param="size")
        wire["width"], wire["height"] = int(match.group(1)), int(match.group(2))
    if req.quality is not None:
        wire["quality"] = _QUALITY[req.quality]
    if req.style is not None:
        wire["style"] = req.style
    if req.output_format is not None:
        wire["output_format"] = req.output_format
    if req.user is not None:
        wire["user"] = req.user
    warnings = [
        f"{name} is not supported by this deployment and was dropped"
        for name, default in _DEFAULTS.items()
        if getattr(req, name) not in (None, default)
    ]
    return req, wire, warnings


def _openai_error_handler(request: HttpRequest, exc: Exception) -> Response[bytes]:
    """OpenAI's error shape with the canonical status; `code` carries the canonical code."""
    headers: dict[str, str] = {}
    param: str | None = None
    if isinstance(exc, GatewayError):
        status, code, message, param = exc.status_code, exc.error_code, exc.message, exc.param
        headers.update(exc.headers)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        code = "internal_error" if status >= 500 else "invalid_request"
        message = exc.detail if status < 500 else "internal error"
        headers.update(exc.headers or {})
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, code, message = 500, "internal_error", "internal error"
    body = OpenAIError(OpenAIErrorDetail(message=message, type=error_type(status), param=param, code=code))
    return Response(content=_ENCODER.encode(body), status_code=status, media_type="application/json", headers=headers)


def error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


# Every class the app layer maps, named again: Litestar picks the most specific class across layers,
# so a handler-level `Exception` alone would lose to the app's GatewayError handler.
OPENAI_ERRORS: ExceptionHandlersMap = {
    GatewayError: _openai_error_handler,
    HTTPException: _openai_error_handler,
    Exception: _openai_error_handler,
}


@post(
    "/v1/images/generations",
    status_code=200,
    request_max_body_size=None,
    exception_handlers=OPENAI_ERRORS,
    summary="Generate images (OpenAI-compatible)",
    operation_id="openaiCreateImage",
)
async def openai_generate(request: HttpRequest) -> Response[bytes] | Stream:
    services: Services = request.app.state.services
    runtime = services.runtime
    body = await read_json_body(request, runtime.config.server.max_body_bytes)
    openai_req, wire, dropped = decode_openai_request(body)
    req = decode_generate_request(_ENCODER.encode(wire)).to_canonical(runtime.config.server)
    admitted = await admit(request, services, runtime, req)
    quality = openai_req.quality or "auto"
    if openai_req.stream:
        job = Job(Operation.GENERATE, req, Delivery.SSE, admitted.route, request_id_of(request.scope))
        return openai_stream(
            runtime, job, router=services.router, partial_images=openai_req.partial_images or 0,
            quality=quality, background=openai_req.background or "auto",
        )
    job = Job(Operation.GENERATE, req, Delivery.JSON, admitted.route, request_id_of(request.scope))
    result = await cancel_on_disconnect(request.receive, run(runtime, job, router=services.router))
    return _images_response(result, quality, openai_req.background, dropped)


def _images_response(result: Result, quality: str, background: str | None, dropped: list[str]) -> Response[bytes]:
    first = result.images[0].info
    data = [
        OpenAIImage(b64_json=image.b64 if image.b64 is not None else base64.b64encode(image.data).decode("ascii"))
        for image in result.images
    ]
    body = OpenAIImagesResponse(
        created=result.created,
        data=data,
        output_format=first.format.value,
        size=f"{first.width}x{first.height}",
        quality=quality,
        background=background,
        usage=Usage(cost_usd=format_usd(result.cost.micro if result.cost else 0)),
    )
    headers = {"X-Provider": result.provider}
    warnings = [*dropped, *result.warnings]
    if result.shortfall is not None:
        warnings.append(f"{result.shortfall.code}: {result.shortfall.message}")
    if warnings:
        # One header line: printable ASCII only, so a provider's text cannot split the header.
        headers["X-Imagegate-Warnings"] = re.sub(r"[^ -~]", "?", "; ".join(warnings))[:2000]
    return Response(content=_ENCODER.encode(body), media_type="application/json", headers=headers)


@get("/v1/models", exception_handlers=OPENAI_ERRORS, summary="List models (OpenAI-compatible)", operation_id="openaiListModels")
async def openai_list_models(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    data: list[OpenAIModel] = []
    for slug, model in services.runtime.config.models.items():
        for name in (slug, *model.aliases):
            data.append(OpenAIModel(id=name, object="model", created=_STARTED, owned_by="imagegate"))
    return Response(content=_ENCODER.encode(OpenAIModels(object="list", data=data)), media_type="application/json")
