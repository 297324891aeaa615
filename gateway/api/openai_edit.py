"""POST /v1/images/edits (spec/openai-compat.md): OpenAI's multipart edit onto the canonical edit.

    body      multipart/form-data, at most `server.edit.max_body_bytes` (413), parts and fields capped
              (gateway/api/multipart.py); another Content-Type is 415
    fields    `image` / `image[]` files (one or many; the first is the base image), `mask` file, the
              other OpenAI fields as form fields, decoded strictly (unknown -> 400 naming it)
    inputs    each file through the canonical edit's own checks (gateway/edit_inputs.py: the bytes
              decide the type, header-only pixel cap, byte cap, mask the size of the base image):
              a part that is not an image is 400 with `param` naming it (`image`, `image[1]`, `mask`)
    model     the edit endpoint's capability check (no deployment can edit -> 400), then admission
    run       the shared pipeline with Operation.EDIT; the response and stream are /v1's own
              (`image_edit.partial_image` / `image_edit.completed`)
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, post
from litestar.response import Stream

from gateway.api.admit import admit, read_body
from gateway.api.edit import _check_model
from gateway.api.idempotent import idempotent
from gateway.api.multipart import Part, boundary_of, parse_form
from gateway.api.openai_compat import (
    OpenAIEditFields,
    answer,
    canonical_request,
    openai_fields,
    to_wire,
    validation_error,
)
from gateway.api.request_id import request_id_of
from gateway.api.types import HttpRequest
from gateway.canonical import InputImage
from gateway.config.edit import EditInputsConfig
from gateway.edit_inputs import ParsedInputs, Pending, check_image, check_mask, load_inputs
from gateway.edit_schema import MAX_EDIT_N, MAX_INPUT_IMAGES
from gateway.errors import InvalidRequest
from gateway.generation import Delivery, Job, Operation
from gateway.services import Services
from gateway.stored_results import require_storage

_IMAGE_FIELDS = ("image", "image[]")
_FILE_FIELDS = (*_IMAGE_FIELDS, "mask")
MAX_FIELD_BYTES = 64 * 1024  # a text field (the prompt is the longest: 32000 characters by default)


@post(
    "/v1/images/edits",
    status_code=200,
    request_max_body_size=None,
    summary="Edit images (OpenAI-compatible, multipart)",
    operation_id="openaiEditImage",
)
async def openai_edit(request: HttpRequest) -> Response[bytes] | Stream:
    services: Services = request.app.state.services
    runtime = services.runtime
    limits = runtime.config.server.edit
    boundary = boundary_of(request.headers.get("content-type", ""))
    parts = parse_form(await read_body(request, limits.max_body_bytes), boundary)
    fields, parsed = _split(parts, limits)
    del parts  # the checked inputs are all that is kept of a body of up to 64 MiB
    wire, passed = to_wire(fields), openai_fields(fields)
    if fields.n is not None and not 1 <= fields.n <= MAX_EDIT_N:
        raise InvalidRequest(f"n must be between 1 and {MAX_EDIT_N} for an edit", param="n")
    req = msgspec.structs.replace(canonical_request(wire, runtime.config.server), openai_fields=passed)
    _check_model(runtime, req, parsed)
    require_storage(services.storage, req.output_type, "response_format")
    extra = (parsed, fields.partial_images, fields.quality, fields.background)  # the inputs count too
    admitted = await admit(request, services, runtime, req, fingerprint_extra=extra)

    async def respond() -> Response[bytes] | Stream:
        images, mask = await load_inputs(parsed, limits)  # every input proven to decode
        job_req = msgspec.structs.replace(req, images=images, mask=mask, stream=False)
        job = Job(Operation.EDIT, job_req, Delivery.JSON, admitted.route, request_id_of(request.scope))
        return await answer(request, services, runtime, job, fields, passed)

    return await idempotent(services, admitted.idempotency, respond)

def _split(parts: list[Part], limits: EditInputsConfig) -> tuple[OpenAIEditFields, ParsedInputs]:
    """The form fields (decoded strictly) and the image files (checked, not yet proven to decode)."""
    text: dict[str, Any] = {}
    image_parts = [part for part in parts if part.name in _IMAGE_FIELDS]
    masks = [part for part in parts if part.name == "mask"]
    for part in parts:
        if part.name in _FILE_FIELDS:
            continue
        if part.name in text:
            raise InvalidRequest(f"{part.name} is given more than once", param=part.name)
        if len(part.data) > MAX_FIELD_BYTES:
            raise InvalidRequest(f"{part.name} is longer than {MAX_FIELD_BYTES} bytes", param=part.name)
        try:
            text[part.name] = part.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"{part.name} is not UTF-8 text", param=part.name) from None
    try:
        fields = msgspec.convert(text, OpenAIEditFields, strict=False)  # "2" -> 2, "true" -> True
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from exc
    if not image_parts:
        raise InvalidRequest("image is required: one or more image files (`image` or `image[]`)", param="image")
    if len(image_parts) > MAX_INPUT_IMAGES:
        raise InvalidRequest(f"at most {MAX_INPUT_IMAGES} image files", param="image")
    if len(masks) > 1:
        raise InvalidRequest("mask is given more than once", param="mask")
    single = len(image_parts) == 1
    images = [
        Pending(name, image=_image(part, name, limits))
        for i, part in enumerate(image_parts)
        for name in ["image" if single else f"image[{i}]"]
    ]
    mask = Pending("mask", image=_image(masks[0], "mask", limits)) if masks else None
    if mask is not None and images[0].image is not None and mask.image is not None:
        check_mask(images[0].image, mask.image)
    return fields, ParsedInputs(images, mask)


def _image(part: Part, param: str, limits: EditInputsConfig) -> InputImage:
    if part.filename is None:
        raise InvalidRequest(f"{param} must be a file part (with a filename), not a text field", param=param)
    return check_image(part.data, param, limits)  # the bytes decide the type, as on the canonical edit
