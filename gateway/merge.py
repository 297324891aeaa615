"""Merge shard outcomes into the unified response: renumber images, transcode, pick the error.

A request that produced no image raises the GatewayError that reflects the most meaningful
failure; some images -> `status: partial` with `error`; all -> `completed`.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass

from gateway import finishing, imaging
from gateway.canonical import ImageRequest, OutputFormat
from gateway.errors import (
    GATEWAY,
    ContentPolicyViolation,
    FailureClass,
    GatewayError,
    InvalidRequest,
    ProviderCapacity,
    ProviderError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from gateway.routing.executor import ShardOutcome
from gateway.schemas import ErrorDetail, GenerateResponse, ImageObject, ProviderMetadata
from gateway.upstream.redaction import scrub  # the one redaction home


@dataclass(frozen=True, slots=True)
class FinishedImage:
    index: int
    data: bytes  # empty when the provider's base64 passes through untouched (`b64`)
    info: imaging.ImageInfo
    seed: int | None
    provider: str
    b64: str | None = None

    def image_bytes(self) -> bytes:
        return self.data if self.b64 is None else binascii.a2b_base64(self.b64, strict_mode=True)


async def merge(
    request_id: str, req: ImageRequest, outcomes: list[ShardOutcome]
) -> tuple[GenerateResponse, list[FinishedImage]]:
    images: list[FinishedImage] = []
    warnings: list[str] = []
    raws: list[dict[str, object]] = []
    failures: list[ProviderError] = []
    for outcome in sorted(outcomes, key=lambda o: o.shard.index):
        if outcome.result is None or outcome.deployment is None:
            failures.extend(outcome.failures or ([outcome.error] if outcome.error else []))
            continue
        raw = scrub(outcome.result.raw)
        assert isinstance(raw, dict)
        raws.append(raw)
        warnings.extend(w for w in outcome.result.warnings if w not in warnings)
        provider = outcome.deployment.provider
        # Normally checked already, inside the attempt (finishing.check_result); extras never decoded.
        for provider_image in outcome.result.images[: outcome.shard.request.n]:
            try:
                image = await finishing.check_image(provider, provider_image, req)
            except ProviderError as exc:
                failures.append(exc)
                continue
            images.append(FinishedImage(len(images), image.data, image.info, image.seed, provider, image.b64))
    attempts = [attempt for outcome in outcomes for attempt in outcome.attempts]
    if not images:
        raise error_for(failures)
    first = next(o for o in sorted(outcomes, key=lambda o: o.shard.index) if o.deployment is not None)
    assert first.deployment is not None
    error = _partial_error(req.n, len(images), failures)
    response = GenerateResponse(
        id=request_id,
        created=int(time.time()),
        status="completed" if error is None else "partial",
        images=[_image_object(image) for image in images[: req.n]],
        error=error,
        provider_metadata=ProviderMetadata(
            provider=_one_or_mixed({image.provider for image in images[: req.n]}, first.deployment.provider),
            model=_one_or_mixed(
                {o.deployment.config.model for o in outcomes if o.result is not None and o.deployment},
                first.deployment.config.model,
            ),
            raw=raws[0] if len(raws) == 1 else {"calls": raws},
            attempts=attempts,
            warnings=warnings,
        ),
    )
    return response, images[: req.n]


def _one_or_mixed(names: set[str], fallback: str) -> str:
    """`provider` / `model` of the answer: the one name, or "mixed" when the images came from several
    (spec/image-generate.md; each image's provider is in `attempts` and the X-Provider header)."""
    return "mixed" if len(names) > 1 else next(iter(names), fallback)


def _partial_error(wanted: int, produced: int, failures: list[ProviderError]) -> ErrorDetail | None:
    """The `error` of a `partial` response (None when every image was produced)."""
    missing = wanted - produced
    if missing <= 0:
        return None
    cause = (
        error_for(failures) if failures else UpstreamError("provider returned fewer images than requested")
    )
    return ErrorDetail(code=cause.error_code, message=f"{missing} of {wanted} images failed: {cause.message}")


def data_url(data: bytes, fmt: OutputFormat) -> str:
    return f"data:{fmt.media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _image_object(image: FinishedImage) -> ImageObject:
    url = (
        data_url(image.data, image.info.format)
        if image.b64 is None
        else f"data:{image.info.format.media_type};base64,{image.b64}"
    )
    return ImageObject(
        index=image.index,
        data_url=url,
        width=image.info.width,
        height=image.info.height,
        format=image.info.format,
        seed=image.seed,
    )


_SKIPPED = {FailureClass.CIRCUIT_OPEN, FailureClass.CAPACITY, FailureClass.RATE_LIMITED}


def error_for(failures: list[ProviderError]) -> GatewayError:
    """The client-facing error for a request (or shard) that produced nothing (spec/routing-policy.md).

    Precedence: a content-policy refusal; an unknown outcome or a passed deadline that ended the
    chain (504); a request the provider called invalid (400); only skips / 429s (503 with
    Retry-After); anything else is 502 naming the last failure class, never the provider's body.
    """
    if not failures:
        return UpstreamError("no provider produced an image")
    classes = {failure.failure for failure in failures}
    last = failures[-1]
    if FailureClass.CONTENT_POLICY in classes:
        return ContentPolicyViolation("the provider's safety system rejected this request")
    if last.failure in (FailureClass.DEADLINE, FailureClass.AMBIGUOUS):
        return UpstreamTimeout("the request deadline passed or the upstream outcome is unknown")
    if FailureClass.CALLER_FAULT in classes:
        fault = next(f for f in failures if f.failure is FailureClass.CALLER_FAULT)
        return InvalidRequest(f"the provider rejected the request: {fault.message}")
    if classes <= _SKIPPED:
        return _unavailable(failures, classes)
    if last.provider == GATEWAY:  # no route at all (e.g. every provider disabled): say why
        return UpstreamError(last.message)
    return UpstreamError(f"every attempt failed; last failure: {last.failure.value} from {last.provider}")


def _unavailable(failures: list[ProviderError], classes: set[FailureClass]) -> GatewayError:
    waits = [f.retry_after for f in failures if f.retry_after is not None and f.retry_after > 0]
    retry_after = max(1.0, min(waits)) if waits else 1.0
    if classes == {FailureClass.RATE_LIMITED}:
        return UpstreamRateLimited("every route is rate-limited upstream", retry_after=retry_after)
    if FailureClass.CAPACITY in classes:
        return ProviderCapacity("no provider capacity freed in time", retry_after=retry_after)
    if FailureClass.RATE_LIMITED in classes:
        return UpstreamRateLimited("every open route is rate-limited upstream", retry_after=retry_after)
    return ServiceUnavailable("every route of this model is temporarily disabled", retry_after=retry_after)
