"""POST /api/v1/image/generate: body -> validation -> auth -> generation -> JSON or raw bytes."""

from __future__ import annotations

import msgspec
from litestar import Response, post
from litestar.response import Stream

from gateway.api.disconnect import cancel_on_disconnect
from gateway.api.metrics import set_metrics_model
from gateway.api.request_id import request_id_of
from gateway.api.types import HttpRequest
from gateway.canonical import OutputType
from gateway.errors import ModelNotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.limits.client_ip import ip_identity, resolve_client_ip
from gateway.metrics import IMAGES_GENERATED
from gateway.runtime import Runtime
from gateway.schemas import decode_generate_request
from gateway.service import Generation, generate
from gateway.services import Services
from gateway.streaming import stream_generation

_ENCODER = msgspec.json.Encoder()
GENERATE_PATH = "/api/v1/image/generate"


@post(
    GENERATE_PATH,
    status_code=200,
    request_max_body_size=None,
    summary="Generate images",
    operation_id="generateImage",
)
async def generate_image(request: HttpRequest) -> Response[bytes] | Stream:
    services: Services = request.app.state.services
    runtime = services.runtime
    request_id = request_id_of(request.scope)
    body = await read_json_body(request, runtime.config.server.max_body_bytes)
    # Validate and resolve the model before authenticating, so a malformed request or a typo in
    # `model` (404) never burns the caller's single-use nonce.
    req = decode_generate_request(body).to_canonical(runtime.config.server)
    model, limits, state = _model_slug(runtime, req.model), runtime.config.limits, request.scope["state"]
    set_metrics_model(state, model)
    if runtime.config.resolve_model(req.model) is None:
        raise ModelNotFound(f"model {req.model!r} is not served here; GET /api/v1/models lists the models")
    ip = client_ip(request)
    # A bounded number of requests at once in the CPU + Redis phase (gateway.limits.admission), so a
    # burst queues here instead of starving the Redis calls' timeouts on the one event loop.
    async with services.limits.admission.slot(limits.admission):
        await services.limits.rate_limits.check_ip(state, limits, ip_identity(ip), req, model)  # before auth
        # The CAIP-10 principal: for logs and per-account limits. Never the header itself.
        principal = await services.authenticator.authenticate(request.headers, ip)
        request.state.principal = principal
        await services.limits.rate_limits.check_account(state, limits, principal.account, req, model)
    if req.stream:
        return stream_generation(runtime, req, request_id=request_id, router=services.router)
    generation = await cancel_on_disconnect(
        request.receive, generate(runtime, req, request_id=request_id, router=services.router)
    )
    for image in generation.images:
        IMAGES_GENERATED.labels(model, image.provider).inc()
    if req.output_type is OutputType.FILE:
        return _file_response(generation)
    return Response(content=_ENCODER.encode(generation.response), media_type="application/json")


async def read_json_body(request: HttpRequest, limit: int) -> bytes:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def client_ip(request: HttpRequest) -> str:
    """The socket peer, or X-Forwarded-For when the peer is a trusted proxy (`limits.trusted_proxies`)."""
    peer = request.client.host if request.client else ""
    trusted = request.app.state.services.runtime.config.limits.trusted_proxies
    # Every field line, not `.get` (the first): a proxy's appended line is the only trustworthy one.
    return resolve_client_ip(peer, request.headers.getall("x-forwarded-for", []), tuple(trusted))


def _model_slug(runtime: Runtime, requested: str) -> str:
    resolved = runtime.config.resolve_model(requested)
    return resolved[0] if resolved is not None else "other"


def _file_response(generation: Generation) -> Response[bytes]:
    image = generation.images[0]
    headers = {"X-Provider": image.provider}
    if image.seed is not None:
        headers["X-Image-Seed"] = str(image.seed)
    return Response(content=image.image_bytes(), media_type=image.info.format.media_type, headers=headers)
