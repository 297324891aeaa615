"""Merge shard outcomes into one neutral Result: renumber images, transcode, pick the error.

A request that produced no image raises the GatewayError that reflects the most meaningful
failure; some images -> a Result with a `shortfall` (the wire's `status: partial` + `error`); all
-> no shortfall (`completed`). Nothing here is a wire type: gateway/responders.py encodes a Result
as JSON, a file or the SSE `completed` event.
"""

from __future__ import annotations

import binascii
import re
import time
from dataclasses import dataclass

from gateway import finishing, imaging, upstream
from gateway.canonical import ImageRequest
from gateway.errors import (
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
from gateway.routing.executor import GATEWAY, AttemptRecord, ShardOutcome


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


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why a partial result has fewer images than asked (the wire's `error` of `status: partial`)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Result:
    """What a generation produced, before any endpoint encodes it."""

    request_id: str
    created: int  # unix seconds
    images: list[FinishedImage]  # numbered 0.., at most the `n` asked for
    shortfall: Shortfall | None  # None: every image asked for was produced
    provider: str  # the one provider of the images, or "mixed"
    model: str  # the one provider model, or "mixed"
    raw: dict[str, object]  # scrubbed provider bodies (one call's, or {"calls": [...]})
    attempts: list[AttemptRecord]
    warnings: list[str]
    cost: float | None = None  # reserved for budgets (not computed yet)


async def merge(request_id: str, req: ImageRequest, outcomes: list[ShardOutcome]) -> Result:
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
        images.extend(await _finished(outcome, req, len(images), failures))
    attempts = [attempt for outcome in outcomes for attempt in outcome.attempts]
    if not images:
        raise error_for(failures)
    first = next(o for o in sorted(outcomes, key=lambda o: o.shard.index) if o.deployment is not None)
    assert first.deployment is not None
    return Result(
        request_id=request_id,
        created=int(time.time()),
        images=images[: req.n],
        shortfall=_shortfall(req.n, len(images), failures),
        provider=_one_or_mixed({image.provider for image in images[: req.n]}, first.deployment.provider),
        model=_one_or_mixed(
            {o.deployment.config.model for o in outcomes if o.result is not None and o.deployment},
            first.deployment.config.model,
        ),
        raw=raws[0] if len(raws) == 1 else {"calls": raws},
        attempts=attempts,
        warnings=warnings,
    )


async def finished_images(outcome: ShardOutcome, first_index: int) -> list[FinishedImage]:
    """One shard outcome's images numbered from `first_index`, as the merge will number them when
    every earlier shard produced all of its own (the SSE `image` events, before the merge)."""
    if outcome.result is None or outcome.deployment is None:
        return []
    return await _finished(outcome, outcome.shard.request, first_index, [])


async def _finished(
    outcome: ShardOutcome, req: ImageRequest, first_index: int, failures: list[ProviderError]
) -> list[FinishedImage]:
    assert outcome.result is not None and outcome.deployment is not None
    provider = outcome.deployment.provider
    images: list[FinishedImage] = []
    # Normally checked already, inside the attempt (finishing.check_result); extras never decoded.
    for provider_image in outcome.result.images[: outcome.shard.request.n]:
        try:
            image = await finishing.check_image(provider, provider_image, req)
        except ProviderError as exc:
            failures.append(exc)
            continue
        index = first_index + len(images)
        images.append(FinishedImage(index, image.data, image.info, image.seed, provider, image.b64))
    return images


def _one_or_mixed(names: set[str], fallback: str) -> str:
    """`provider` / `model` of the answer: the one name, or "mixed" when the images came from several
    (spec/image-generate.md; each image's provider is in `attempts` and the X-Provider header)."""
    return "mixed" if len(names) > 1 else next(iter(names), fallback)


def _shortfall(wanted: int, produced: int, failures: list[ProviderError]) -> Shortfall | None:
    """The `error` of a `partial` response (None when every image was produced)."""
    missing = wanted - produced
    if missing <= 0:
        return None
    cause = (
        error_for(failures) if failures else UpstreamError("provider returned fewer images than requested")
    )
    return Shortfall(code=cause.error_code, message=f"{missing} of {wanted} images failed: {cause.message}")


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


_SECRET_KEYS = {
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "x-key",
    "key",
    "secret",
    "token",
    "password",
}
_SECRET_SUFFIXES = ("_key", "_key_id", "_secret", "_token", "_password")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


# What `provider_metadata.raw` may carry: it is for debugging, and a provider decides its size.
RAW_MAX_STRING = 4096  # chars; longer strings keep RAW_KEPT_PREFIX chars and say how many were cut
RAW_KEPT_PREFIX = 256
RAW_MAX_ITEMS = 64  # list items and object keys per level
RAW_MAX_DEPTH = 16


def scrub(value: object, depth: int = 0) -> object:
    """A provider body fit for a response: credential-looking keys dropped, URL query strings
    (signatures) cut, and bounded (long strings, long lists, wide or deep objects elided). Base64
    payloads are already elided by the adapters."""
    if depth > RAW_MAX_DEPTH and isinstance(value, dict | list):
        return "<elided: nested too deep>"
    if isinstance(value, dict):
        kept = [
            (key, item)
            for key, item in value.items()
            if str(key).lower() not in _SECRET_KEYS and not str(key).lower().endswith(_SECRET_SUFFIXES)
        ]
        scrubbed = {str(key)[:RAW_KEPT_PREFIX]: scrub(item, depth + 1) for key, item in kept[:RAW_MAX_ITEMS]}
        if len(kept) > RAW_MAX_ITEMS:
            scrubbed["<elided>"] = f"{len(kept) - RAW_MAX_ITEMS} more keys"
        return scrubbed
    if isinstance(value, list):
        items = [scrub(item, depth + 1) for item in value[:RAW_MAX_ITEMS]]
        if len(value) > RAW_MAX_ITEMS:
            items.append(f"<elided: {len(value) - RAW_MAX_ITEMS} more items>")
        return items
    if isinstance(value, str) and len(value) > RAW_MAX_STRING:
        value = f"{value[:RAW_KEPT_PREFIX]}... <elided: {len(value)} chars>"
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        return value.split("?", 1)[0]
    if isinstance(value, str):  # a provider may echo a credential inside text
        return upstream.redact(_AUTH_SCHEME.sub(r"\1 <redacted>", value), [])
    return value
