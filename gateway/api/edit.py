"""POST /api/v1/image/edit: the edit endpoint codec (spec/image-edit.md). Body -> Job(EDIT); the
Result goes out exactly as generate's (JSON, file or SSE) plus `input_images`.

    body       Content-Type, `server.edit.max_body_bytes` (64 MiB: it carries images)
    decode     strict wire Struct (gateway/edit_schema.py), 400 with `param`
    inputs 1   data URLs decoded, types and header sizes checked (gateway/edit_inputs.py)
    model      none of its deployments can do this edit -> 400 (param model / images / mask)
    admission  as every endpoint (gateway/api/admit.py)
    inputs 2   URLs fetched under the SSRF rules, every image proven to decode, the mask compared
    run        the shared pipeline with Operation.EDIT (the executor filters the chain)
"""

from __future__ import annotations

import random

import msgspec
from litestar import Response, post
from litestar.response import Stream

from gateway.api.admit import admit, read_json_body
from gateway.api.disconnect import cancel_on_disconnect
from gateway.api.idempotent import idempotent
from gateway.api.jobs import accept, check_async
from gateway.api.request_id import request_id_of
from gateway.api.types import HttpRequest
from gateway.canonical import ImageRequest, OutputType
from gateway.edit_inputs import ParsedInputs, UrlFetch, load_inputs, parse_inputs
from gateway.edit_schema import decode_edit_request
from gateway.errors import InvalidRequest
from gateway.generation import Delivery, Job, Operation, run
from gateway.responders import file_response, json_response
from gateway.routing import editing
from gateway.routing.strategy import candidates
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.stored_results import require_storage, store_result
from gateway.streaming import stream_generation

EDIT_PATH = "/api/v1/image/edit"
URL_FETCH_STATE = "edit_url_fetch"  # app.state key: tests inject a UrlFetch (fake https hosts)


@post(
    EDIT_PATH,
    status_code=200,
    request_max_body_size=None,
    summary="Edit images",
    operation_id="editImage",
)
async def edit_image(request: HttpRequest) -> Response[bytes] | Stream:
    services: Services = request.app.state.services
    runtime = services.runtime
    limits = runtime.config.server.edit
    body = await read_json_body(request, limits.max_body_bytes)
    wire = decode_edit_request(body)
    req = wire.to_canonical(runtime.config.server)
    parsed = parse_inputs(wire.images, wire.mask, limits)
    webhook_url = wire.webhook_url
    del body, wire  # the decoded inputs are all that is kept of a body of up to 64 MiB
    _check_model(runtime, req, parsed)
    require_storage(services.storage, req.output_type, "output_type")
    as_job = await check_async(request, runtime, webhook_url)  # Prefer: respond-async (or None)
    admitted = await admit(request, services, runtime, req, fingerprint_extra=parsed)  # the inputs count too

    async def respond() -> Response[bytes] | Stream:
        fetch: UrlFetch | None = request.app.state.get(URL_FETCH_STATE)
        images, mask = await load_inputs(parsed, limits, fetch)
        delivery = _delivery(req)
        # How to deliver is the Job's business; providers see the canonical inputs only.
        job_req = msgspec.structs.replace(req, images=images, mask=mask, stream=False)
        job = Job(Operation.EDIT, job_req, delivery, admitted.route, request_id_of(request.scope))
        if as_job is not None:
            return await accept(request, runtime, job, admitted.principal, as_job)
        if job.delivery is Delivery.SSE:
            return stream_generation(runtime, job, router=services.router)
        result = await cancel_on_disconnect(request.receive, run(runtime, job, router=services.router))
        if job_req.output_type is OutputType.URL:
            result = await store_result(services.storage, result, base_url=str(request.base_url))
        return file_response(result) if job.delivery is Delivery.FILE else json_response(result)

    return await idempotent(services, admitted.idempotency, respond)

def _check_model(runtime: Runtime, req: ImageRequest, parsed: ParsedInputs) -> None:
    """400 when no deployment of the model (its fallback models included) can do this edit. An
    unknown model is left to admission (404)."""
    resolved = runtime.config.resolve_model(req.model)
    if resolved is None:
        return
    slug, model = resolved
    deployments = candidates(runtime, slug, random.Random(0))  # the order does not matter here
    if not deployments:  # every provider disabled (a missing key): the pipeline's 503 says so, not a 400
        return
    why = editing.refusal(
        deployments,
        slug,
        parsed.count,
        parsed.mask is not None,
        mask_required=model.edit.mask_required_on_fallback,
    )
    if why is not None:
        raise InvalidRequest(why[0], param=why[1])


def _delivery(req: ImageRequest) -> Delivery:
    if req.stream:
        return Delivery.SSE
    return Delivery.FILE if req.output_type is OutputType.FILE else Delivery.JSON
