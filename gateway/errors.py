"""Errors: what an upstream did (ProviderError) and what a client is told (GatewayError).

Exception
 ├── ProviderError            raised by adapters / upstream/; never reaches a client
 │     .failure: FailureClass  drives retry / fallback policy (spec/routing-policy.md)
 └── GatewayError             rendered by the one exception handler as {"error": {...}}
       ├── InvalidRequest            400 invalid_request (param names the field)
       ├── ContentPolicyViolation    400 content_policy_violation
       ├── AuthError                 401 auth_* (code chosen per failure)
       ├── ModelNotAllowed           403 model_not_allowed (an API key limited to other models)
       ├── ModelNotFound             404 model_not_found
       ├── IdempotencyInProgress     409 idempotency_in_progress (+ Retry-After)
       ├── IdempotencyReplayUnavailable 409 idempotency_replay_unavailable
       ├── PayloadTooLarge           413 payload_too_large
       ├── UnsupportedMediaType      415 unsupported_media_type
       ├── IdempotencyKeyMismatch    422 idempotency_key_mismatch
       ├── RateLimited               429 rate_limited (+ Retry-After)
       ├── UpstreamError             502 upstream_error
       ├── ResultStorageFailed       502 storage_error (no image could be stored)
       ├── AuthUnavailable           503 auth_unavailable
       ├── ProviderCapacity          503 provider_capacity (+ Retry-After)
       ├── UpstreamRateLimited       503 upstream_rate_limited (+ Retry-After)
       ├── ServiceUnavailable        503 service_unavailable
       └── UpstreamTimeout           504 upstream_timeout
"""

from __future__ import annotations

import enum
from typing import ClassVar


class FailureClass(enum.StrEnum):
    """Why an upstream call failed; the routing policy table is keyed on this."""

    CONNECT = "connect"  # nothing was sent: connect error / timeout, DNS, TLS
    TRANSIENT = "transient"  # explicit 500/502/503/504 from the provider
    AMBIGUOUS = "ambiguous"  # read timeout / reset after the request was sent: outcome unknown
    RATE_LIMITED = "rate_limited"  # 429 without a quota code
    CREDENTIAL = "credential"  # 401 / 403: our key
    QUOTA = "quota"  # 402, insufficient_quota
    MODEL_UNAVAILABLE = "model_unavailable"  # 404 model / deployment gone
    CALLER_FAULT = "caller_fault"  # 400 / 422 caused by the request
    CONTENT_POLICY = "content_policy"  # provider refused the prompt or the output
    UPSTREAM_INVALID = "upstream_invalid"  # 200 with no image / non-image / undecodable body
    CAPACITY = "capacity"  # no concurrency lease within the wait (nothing was sent)
    CIRCUIT_OPEN = "circuit_open"  # deployment skipped by its breaker
    DEADLINE = "deadline"  # the request deadline passed

GATEWAY = "gateway"  # ProviderError.provider for failures the gateway raised itself (no route at all)


class ProviderError(Exception):
    """A typed upstream failure. `message` must already be free of secrets."""

    def __init__(
        self,
        provider: str,
        failure: FailureClass,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        provider_code: str | None = None,
        raw: object = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.failure = failure
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.provider_code = provider_code
        self.raw = raw
        # The provider's own words, sanitised (upstream.provider_detail): for operator logs only.
        self.detail = detail

    @property
    def retryable(self) -> bool:
        """Whether the same deployment may be tried again (before deployment overrides)."""
        return self.failure in (FailureClass.CONNECT, FailureClass.TRANSIENT, FailureClass.RATE_LIMITED)

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.provider!r}, {self.failure.value}, status={self.status}, {self.message!r})"
        )


class GatewayError(Exception):
    """An error a client sees. Subclasses fix `status_code` and `code`."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    # True when a provider was reached before it failed: an Idempotency-Key keeps this answer
    # (gateway/api/idempotent.py); False (validation, our limits, retry-later) lets the key be reused.
    provider_reached: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.headers = headers or {}

    @property
    def error_code(self) -> str:
        return self.code


class InvalidRequest(GatewayError):
    status_code = 400
    code = "invalid_request"


class ContentPolicyViolation(GatewayError):
    status_code = 400
    code = "content_policy_violation"


class AuthError(GatewayError):
    """401 with one of the contract's `auth_*` codes (siwx-auth.md)."""

    status_code = 401
    code = "auth_invalid_message"

    def __init__(self, auth_code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.auth_code = auth_code

    @property
    def error_code(self) -> str:
        return self.auth_code


class ModelNotAllowed(GatewayError):
    """403: the API key is valid but its `models` list does not include this one (the spec names no
    code for it; 403 is what OpenAI's SDKs raise as PermissionDeniedError)."""

    status_code = 403
    code = "model_not_allowed"


class ModelNotFound(GatewayError):
    status_code = 404
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limited"


class UpstreamError(GatewayError):
    status_code = 502
    code = "upstream_error"


class AuthUnavailable(GatewayError):
    status_code = 503
    code = "auth_unavailable"


class ProviderCapacity(GatewayError):
    status_code = 503
    code = "provider_capacity"


class UpstreamRateLimited(GatewayError):
    status_code = 503
    code = "upstream_rate_limited"


class ServiceUnavailable(GatewayError):
    status_code = 503
    code = "service_unavailable"


class UpstreamTimeout(GatewayError):
    status_code = 504
    code = "upstream_timeout"


class IdempotencyInProgress(GatewayError):
    """409: a request with the same Idempotency-Key is still running (spec/jobs.md)."""

    status_code = 409
    code = "idempotency_in_progress"


class IdempotencyReplayUnavailable(GatewayError):
    """409: the key's request completed, but its response was over the cap and was not kept."""

    status_code = 409
    code = "idempotency_replay_unavailable"


class IdempotencyKeyMismatch(GatewayError):
    """422: the same Idempotency-Key with a different request body."""

    status_code = 422
    code = "idempotency_key_mismatch"


class ResultStorageFailed(GatewayError):
    """502: images were generated but none could be written to the result storage."""

    status_code = 502
    code = "storage_error"
    provider_reached = True
