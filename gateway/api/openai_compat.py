"""The OpenAI Images API at /v1 (spec/openai-compat.md): POST /v1/images/generations, GET /v1/models.

A codec like gateway/api/images.py: OpenAI's request fields -> the canonical request (validated by
the same decoder as the canonical endpoint, so bounds and messages agree), shared admission and
pipeline, then the neutral Result -> OpenAI's response. The gateway's own facts travel in headers
(X-Provider, X-Imagegate-Warnings; X-Request-Id is stamped on every response), never in `data`.
Errors on /v1 use OpenAI's shape (gateway/api/openai_errors.py, chosen by path in the app's handlers).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.response import Stream

from gateway.api.admit import admit, read_json_body
from gateway.api.disconnect import cancel_on_disconnect
from gateway.api.idempotent import idempotent
from gateway.api.openai_stream import Usage, openai_stream
from gateway.api.request_id import request_id_of
from gateway.api.types import HttpRequest
from gateway.b64 import b64encode
from gateway.canonical import ImageRequest, OutputType
from gateway.config.cost import format_usd
from gateway.errors import InvalidRequest
from gateway.generation import Delivery, Job, Operation, Result, run
from gateway.runtime import Runtime
from gateway.schemas import RequestBounds, decode_generate_request
from gateway.services import Services
from gateway.stored_results import require_storage, store_result

log = logging.getLogger("imagegate.api")
_ENCODER = msgspec.json.Encoder()
_STARTED = int(time.time())  # `created` of every model: when this process started serving them
_SIZE = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")
_QUALITY = {"standard": "medium", "hd": "high", "low": "low", "medium": "medium", "high": "high", "auto": "auto"}
# Fields with no canonical meaning: passed to OpenAI deployments (ImageRequest.openai_fields); any
# other provider that made the images drops them, reported when the value asks for something.
_PASSED: dict[str, object] = {"background": "auto", "output_compression": 100, "input_fidelity": "low"}
_OPENAI_ADAPTER = "openai"


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


class OpenAIEditFields(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """OpenAI's `images.edit` form fields (the files travel beside them). No `style` or `moderation`:
    OpenAI's edit endpoint has neither, so they are refused as unknown, as OpenAI refuses them."""

    prompt: str
    model: str | None = None
    n: int | None = None
    size: str | None = None
    quality: Literal["standard", "hd", "low", "medium", "high", "auto"] | None = None
    response_format: Literal["b64_json", "url"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    input_fidelity: Literal["high", "low"] | None = None
    stream: bool | None = None
    partial_images: Annotated[int, msgspec.Meta(ge=0, le=3)] | None = None
    user: str | None = None


class OpenAIImage(msgspec.Struct, frozen=True, omit_defaults=True):
    b64_json: str | None = None
    url: str | None = None  # response_format: url


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


def decode_openai_request(body: bytes) -> tuple[OpenAIImageRequest, dict[str, Any]]:
    """The OpenAI body and the canonical wire body it maps to."""
    try:
        req = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    return req, to_wire(req)


def validation_error(exc: msgspec.ValidationError) -> InvalidRequest:
    """msgspec's message with `param` naming the field (`$.size` -> size)."""
    text = str(exc)
    match = re.search(r"`\$\.(\w+)`|field `(\w+)`", text)
    return InvalidRequest(text.replace("`$.", "`"), param=(match.group(1) or match.group(2)) if match else None)


def to_wire(req: OpenAIImageRequest | OpenAIEditFields) -> dict[str, Any]:
    """OpenAI's fields -> the canonical wire body (then checked by the canonical decoder)."""
    if req.model is None:
        raise InvalidRequest("model is required (GET /v1/models lists the models)", param="model")
    wire: dict[str, Any] = {"model": req.model, "prompt": req.prompt}
    if req.response_format == "url":  # links from the result storage (require_storage: 400 without it)
        wire["output_type"] = "url"
    if req.n is not None:
        wire["n"] = req.n
    if req.size is not None and req.size != "auto":
        match = _SIZE.match(req.size)
        if match is None:
            raise InvalidRequest(f"size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto, not {req.size!r}", param="size")
        wire["width"], wire["height"] = int(match.group(1)), int(match.group(2))
    if req.quality is not None:
        wire["quality"] = _QUALITY[req.quality]
    style = getattr(req, "style", None)
    if style is not None:
        wire["style"] = style
    if req.output_format is not None:
        wire["output_format"] = req.output_format
    if req.user is not None:
        wire["user"] = req.user
    if getattr(req, "moderation", None) == "low":
        wire["safe_mode"] = False  # the canonical meaning; OpenAI deployments send moderation: low
    return wire


def openai_fields(req: OpenAIImageRequest | OpenAIEditFields) -> dict[str, str | int] | None:
    """The fields only OpenAI deployments take (ImageRequest.openai_fields)."""
    passed = {name: value for name in _PASSED if (value := getattr(req, name, None)) is not None}
    return passed or None


def dropped_fields(runtime: Runtime, result: Result, fields: dict[str, str | int] | None) -> list[str]:
    """A warning per OpenAI-only field that asked for something a non-OpenAI provider made the
    images without."""
    makers = {a.provider for a in result.attempts if a.outcome == "ok"} if result.provider == "mixed" else {result.provider}
    others = sorted(p for p in makers if getattr(runtime.config.providers.get(p), "adapter", None) != _OPENAI_ADAPTER)
    if not others:
        return []
    return [
        f"{name}: passed only to OpenAI deployments; dropped by {', '.join(others)}"
        for name, value in (fields or {}).items()
        if value != _PASSED[name]
    ]


def canonical_request(wire: dict[str, Any], bounds: RequestBounds) -> ImageRequest:
    """The canonical decoder's checks on the mapped body; its refusals name OpenAI's field
    (`width` / `height` came from `size`)."""
    try:
        return decode_generate_request(_ENCODER.encode(wire)).to_canonical(bounds)
    except InvalidRequest as exc:
        if exc.param in ("width", "height"):
            size = f"{wire['width']}x{wire['height']}"
            raise InvalidRequest(f"size {size} is out of range: {exc.message}", param="size") from exc
        raise


@post(
    "/v1/images/generations",
    status_code=200,
    request_max_body_size=None,
    summary="Generate images (OpenAI-compatible)",
    operation_id="openaiCreateImage",
)
async def openai_generate(request: HttpRequest) -> Response[bytes] | Stream:
    services: Services = request.app.state.services
    runtime = services.runtime
    body = await read_json_body(request, runtime.config.server.max_body_bytes)
    openai_req, wire = decode_openai_request(body)
    passed = openai_fields(openai_req)
    req = msgspec.structs.replace(canonical_request(wire, runtime.config.server), openai_fields=passed)
    require_storage(services.storage, req.output_type, "response_format")
    extra = (openai_req.partial_images, openai_req.quality, openai_req.background)  # echoed or streamed as asked
    admitted = await admit(request, services, runtime, req, fingerprint_extra=extra)

    async def respond() -> Response[bytes] | Stream:
        job = Job(Operation.GENERATE, req, Delivery.JSON, admitted.route, request_id_of(request.scope))
        return await answer(request, services, runtime, job, openai_req, passed)

    return await idempotent(services, admitted.idempotency, respond)


async def answer(
    request: HttpRequest,
    services: Services,
    runtime: Runtime,
    job: Job,
    asked: OpenAIImageRequest | OpenAIEditFields,
    passed: dict[str, str | int] | None,
) -> Response[bytes] | Stream:
    """Run an admitted /v1 job (generation or edit) and answer in OpenAI's shape: its stream events
    when `asked.stream`, else the images response (stored first for `response_format: url`)."""
    quality = asked.quality or "auto"
    if asked.stream:
        return openai_stream(
            runtime, msgspec.structs.replace(job, delivery=Delivery.SSE), router=services.router,
            partial_images=asked.partial_images or 0, quality=quality, background=asked.background or "auto",
        )
    result = await cancel_on_disconnect(request.receive, run(runtime, job, router=services.router))
    if job.request.output_type is OutputType.URL:
        result = await store_result(services.storage, result, base_url=str(request.base_url))
    return images_response(result, quality, asked.background, dropped_fields(runtime, result, passed))


def images_response(result: Result, quality: str, background: str | None, dropped: list[str]) -> Response[bytes]:
    first = result.images[0].info
    data = [
        OpenAIImage(url=image.url)
        if image.url is not None
        else OpenAIImage(b64_json=image.b64 if image.b64 is not None else b64encode(image.data))
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


@get("/v1/models", summary="List models (OpenAI-compatible)", operation_id="openaiListModels")
async def openai_list_models(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    data: list[OpenAIModel] = []
    for slug, model in services.runtime.config.models.items():
        for name in (slug, *model.aliases):
            data.append(OpenAIModel(id=name, object="model", created=_STARTED, owned_by="imagegate"))
    return Response(content=_ENCODER.encode(OpenAIModels(object="list", data=data)), media_type="application/json")
