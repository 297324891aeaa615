"""Admission: what every generation endpoint checks before any provider work, in this order.

    body        Content-Type and `server.max_body_bytes` (413 before the body is buffered)
    [codec]     the endpoint decodes the body into an ImageRequest (400 with `param`)
    model       resolved once (404), and named for the metrics and limits labels
    IP limit    before authentication, so a flood never reaches the signature check
    auth        the CAIP-10 principal (never the header itself)
    key         an API key's own limit (`auth.api_keys[].limits`), when it has one
    account     per-account / per-model limits
    [hook]      budgets and idempotency claims go here, inside the same admission slot

Validation and model resolution come before authentication, so a malformed request or a typo in
`model` never burns the caller's single-use nonce.
"""

from __future__ import annotations

import msgspec

from gateway.api.budget_release import reserve_budget
from gateway.api.metrics import set_metrics_model
from gateway.api.types import HttpRequest
from gateway.auth import Principal
from gateway.auth.api_keys import authenticate
from gateway.canonical import ImageRequest
from gateway.errors import ModelNotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.generation import Route
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import Claim, fingerprint, key_from_headers
from gateway.limits import one_trip
from gateway.limits.client_ip import ip_identity, resolve_client_ip
from gateway.runtime import Runtime
from gateway.services import Services


class Admitted(msgspec.Struct, frozen=True):
    route: Route
    principal: Principal
    idempotency: Claim | None = None  # Idempotency-Key: pass to gateway/api/idempotent.py `idempotent`


async def read_json_body(request: HttpRequest, limit: int) -> bytes:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    return await read_body(request, limit)


async def read_body(request: HttpRequest, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` (never buffered beyond it)."""
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


async def admit(
    request: HttpRequest, services: Services, runtime: Runtime, req: ImageRequest, *, fingerprint_extra: object = None
) -> Admitted:
    """Resolve the model, then IP limit -> auth -> account limit; raises the GatewayError that refuses.
    `runtime` is the one the endpoint read at the top: the job runs on the config it was admitted by.
    `fingerprint_extra`: decoded fields outside `req` that change the answer (the Idempotency-Key fingerprint)."""
    idempotency_key = key_from_headers(request.headers.getall(IDEMPOTENCY_HEADER, []))  # 400 before the nonce
    resolved = runtime.config.resolve_model(req.model)
    state = request.scope["state"]
    set_metrics_model(state, resolved[0] if resolved is not None else "other")
    if resolved is None:
        raise ModelNotFound(f"model {req.model!r} is not served here; GET /api/v1/models lists the models")
    route = Route(*resolved)
    limits = runtime.config.limits
    ip = client_ip(request)
    # A bounded number of requests at once in the CPU + Redis phase (gateway.limits.admission), so a
    # burst queues here instead of starving the Redis calls' timeouts on the one event loop.
    async with services.limits.admission.slot(limits.admission):
        # Before authentication: a flood of bad signatures costs one Redis call each, not a verify.
        await services.limits.rate_limits.check_ip(state, limits, ip_identity(ip), req, route.slug)
        # The CAIP-10 principal: for logs and per-account limits. Never the header itself.
        # The key list comes from `runtime` (this request's config): a reload revokes a removed key.
        # The nonce claim may take the account limit along: one Redis round trip (limits/one_trip.py).
        rate_limits = services.limits.rate_limits
        check = one_trip.AccountCheck(lambda account: rate_limits.account_plan(limits, account, req, route.slug))
        with one_trip.offered(check):
            principal = await authenticate(
                request.headers, ip, runtime.config.auth, services.authenticator, (req.model, route.slug)
            )
        request.state.principal = principal
        if principal.key is not None and principal.key_limits is not None:  # before the account's:
            # a request the key's own limit refuses does not spend the shared account's budget
            await services.limits.rate_limits.check_key(
                state, limits, principal.key, principal.key_limits, req, route.slug
            )
        if check.planned is not None and check.decision is not None and check.planned.tag == f"a:{principal.account}":
            rate_limits.apply(state, check.planned, check.decision)
        else:
            await rate_limits.check_account(state, limits, principal.account, req, route.slug)
        # Hook: budgets (reserve the request's cost) and idempotency (claim the key) go here.
        claim = None
        if idempotency_key is not None:  # 409 / 422 / a replay (gateway/idempotency.py)
            claim = await services.idempotency.claim(
                idempotency_key, account=principal.account, route=request.url.path,
                fingerprint=fingerprint(req, fingerprint_extra), config=runtime.config.idempotency,
                deadline_seconds=route.model.deadline_seconds or runtime.config.server.request_deadline_seconds,
            )  # fmt: skip
        await reserve_budget(services, runtime, principal.account, route, req, claim)  # 402 if short (docs/cost.md)
    return Admitted(route, principal, claim)


def client_ip(request: HttpRequest) -> str:
    """The socket peer, or X-Forwarded-For when the peer is a trusted proxy (`limits.trusted_proxies`)."""
    peer = request.client.host if request.client else ""
    trusted = request.app.state.services.runtime.config.limits.trusted_proxies
    # Every field line, not `.get` (the first): a proxy's appended line is the only trustworthy one.
    return resolve_client_ip(peer, request.headers.getall("x-forwarded-for", []), tuple(trusted))
