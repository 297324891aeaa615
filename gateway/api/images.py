"""POST /api/v1/image/generate: the endpoint codec. Body -> Job; Result -> JSON, file or SSE.

The rest of the request is shared by every endpoint: admission (gateway/api/admit.py), the
pipeline (gateway/generation.py) and the responders (gateway/responders.py, gateway/streaming/).
"""

from __future__ import annotations

import msgspec
from litestar import Response, post
from litestar.response import Stream

from gateway.api.admit import Admitted, admit, read_json_body
from gateway.api.disconnect import cancel_on_disconnect
from gateway.api.idempotent import idempotent
from gateway.api.jobs import AsyncJob, accept, check_async
from gateway.api.request_id import request_id_of
from gateway.api.types import HttpRequest
from gateway.canonical import ImageRequest, OutputType
from gateway.generation import Delivery, Job, Operation, run
from gateway.responders import file_response, json_response
from gateway.runtime import Runtime
from gateway.schemas import decode_generate_request
from gateway.services import Services
from gateway.stored_results import require_storage, store_result
from gateway.streaming import stream_generation

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
    body = await read_json_body(request, runtime.config.server.max_body_bytes)
    wire = decode_generate_request(body)
    req = wire.to_canonical(runtime.config.server)
    require_storage(services.storage, req.output_type, "output_type")
    as_job = await check_async(request, runtime, wire.webhook_url)  # Prefer: respond-async (or None)
    admitted = await admit(request, services, runtime, req)
    return await idempotent(
        services, admitted.idempotency, lambda: _respond(request, services, runtime, req, admitted, as_job)
    )


async def _respond(
    request: HttpRequest,
    services: Services,
    runtime: Runtime,
    req: ImageRequest,
    admitted: Admitted,
    as_job: AsyncJob | None,
) -> Response[bytes] | Stream:
    delivery = _delivery(req)
    if req.stream:  # how to deliver is the Job's business; providers see the canonical inputs only
        req = msgspec.structs.replace(req, stream=False)
    job = Job(Operation.GENERATE, req, delivery, admitted.route, request_id_of(request.scope))
    if as_job is not None:
        return await accept(request, runtime, job, admitted.principal, as_job)
    if job.delivery is Delivery.SSE:
        return stream_generation(runtime, job, router=services.router)
    result = await cancel_on_disconnect(request.receive, run(runtime, job, router=services.router))
    if req.output_type is OutputType.URL:
        result = await store_result(services.storage, result, base_url=str(request.base_url))
    return file_response(result) if job.delivery is Delivery.FILE else json_response(result)


def _delivery(req: ImageRequest) -> Delivery:
    if req.stream:
        return Delivery.SSE
    return Delivery.FILE if req.output_type is OutputType.FILE else Delivery.JSON
