"""What the merge of shard outcomes (gateway/generation.py `finish`) needs besides the images:
the client-facing error for failures (`error_for`) and the provider body fit for a response
(`scrub`)."""

from __future__ import annotations

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
from gateway.upstream.redaction import scrub  # the one redaction home (re-exported for the pipeline)

__all__ = ["error_for", "scrub"]

_SKIPPED = {FailureClass.CIRCUIT_OPEN, FailureClass.CAPACITY, FailureClass.RATE_LIMITED}
# Failures that mean no provider did (or will bill) any work: nothing sent, or refused at the door.
_NOT_REACHED = {FailureClass.CONNECT, FailureClass.CAPACITY, FailureClass.CIRCUIT_OPEN, FailureClass.RATE_LIMITED}


def error_for(failures: list[ProviderError]) -> GatewayError:
    """`_error_for`, marked `provider_reached` when some failure came from a provider that got the request."""
    error = _error_for(failures)
    error.provider_reached = any(f.failure not in _NOT_REACHED and f.provider != GATEWAY for f in failures)
    return error


def _error_for(failures: list[ProviderError]) -> GatewayError:
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
