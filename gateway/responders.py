"""Responders: a neutral generation Result encoded for the client, one function per delivery.

    JSON   the GenerateResponse body (spec/image-generate.md), images as data URLs
    file   the first image's bytes, `X-Provider` / `X-Image-Seed` headers (no data URL is built)
    SSE    gateway/streaming/ frames events and ends with `completed` = the JSON body

Only here does the internal attempt record become the public `Attempt` and an image a data URL.
"""

from __future__ import annotations

import msgspec
from litestar import Response

from gateway.b64 import b64encode
from gateway.canonical import OutputFormat
from gateway.config.cost import format_usd
from gateway.costing import Cost
from gateway.generation import FinishedImage, Result
from gateway.routing.executor import AttemptRecord
from gateway.schemas import (
    Attempt,
    CallCostInfo,
    CostInfo,
    ErrorDetail,
    GenerateResponse,
    ImageObject,
    InputImageSize,
    ProviderMetadata,
)
from gateway.splice import Splicer

_ENCODER = msgspec.json.Encoder()


def json_response(result: Result) -> Response[bytes]:
    # Provider base64 passing through is spliced into the encoded body (gateway/splice.py).
    splicer = Splicer()
    images = [image_object(image, splicer) for image in result.images]
    body = splicer.splice(_ENCODER.encode(generate_response(result, images)))
    return Response(content=body, media_type="application/json")


def file_response(result: Result) -> Response[bytes]:
    image = result.images[0]
    headers = {"X-Provider": image.provider, "X-Cost-USD": cost_info(result.cost).usd}  # docs/cost.md
    if image.seed is not None:
        headers["X-Image-Seed"] = str(image.seed)
    return Response(content=image.image_bytes(), media_type=image.info.format.media_type, headers=headers)


def generate_response(result: Result, images: list[ImageObject] | None = None) -> GenerateResponse:
    """The JSON body; `images` when the caller already encoded them (the SSE `image` events)."""
    shortfall = result.shortfall
    return GenerateResponse(
        id=result.request_id,
        created=result.created,
        status="completed" if shortfall is None else "partial",
        images=[image_object(image) for image in result.images] if images is None else images,
        error=None if shortfall is None else ErrorDetail(code=shortfall.code, message=shortfall.message),
        provider_metadata=ProviderMetadata(
            provider=result.provider,
            model=result.model,
            raw=result.raw,
            attempts=[_attempt(record) for record in result.attempts],
            warnings=result.warnings,
            cost=cost_info(result.cost),
        ),
        input_images=[InputImageSize(width=w, height=h) for w, h in result.input_images] or msgspec.UNSET,
    )


def cost_info(cost: Cost | None) -> CostInfo:
    """`provider_metadata.cost`: integer micro-USD rendered as 6-decimal strings, never a float."""
    if cost is None:
        return CostInfo(usd=format_usd(0), basis="none", calls=[])
    calls = [
        CallCostInfo(
            deployment=c.deployment,
            provider=c.provider,
            model=c.model,
            shard=c.shard,
            outcome=c.outcome,
            usd=format_usd(c.micro),
            basis=c.basis,
        )
        for c in cost.calls
    ]
    return CostInfo(usd=format_usd(cost.micro), basis=cost.basis, calls=calls)


def data_url(data: bytes, fmt: OutputFormat) -> str:
    return f"data:{fmt.media_type};base64,{b64encode(data)}"


def image_object(image: FinishedImage, splicer: Splicer | None = None) -> ImageObject:
    if image.url is not None:  # `output_type: url` (gateway/stored_results.py)
        return ImageObject(
            index=image.index, url=image.url, width=image.info.width, height=image.info.height,
            format=image.info.format, seed=image.seed,
        )  # fmt: skip
    if image.b64 is None:
        url = data_url(image.data, image.info.format)
    elif splicer is not None:  # spliced into the encoded body (gateway/splice.py)
        url = splicer.hold(f"data:{image.info.format.media_type};base64,", image.b64, image.b64_ascii)
    else:
        url = f"data:{image.info.format.media_type};base64,{image.b64}"
    return ImageObject(
        index=image.index,
        data_url=url,
        width=image.info.width,
        height=image.info.height,
        format=image.info.format,
        seed=image.seed,
    )


def _attempt(record: AttemptRecord) -> Attempt:
    return Attempt(
        deployment=record.deployment,
        provider=record.provider,
        model=record.model,
        shard=record.shard,
        outcome=record.outcome,
        status=record.status,
        latency_ms=record.latency_ms,
        message=record.message,
    )
