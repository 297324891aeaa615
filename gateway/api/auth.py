"""GET /api/v1/auth/nonce: a server-issued nonce and everything a client needs to build its message.

Unauthenticated, and every call stores a key for 5 minutes: so it exists only when the gateway asks
for issued nonces (`auth.require_issued_nonce: true`; else 404, and nothing is stored), and the IP
rate limit (`limits.ip`, a bucket of its own) applies before anything is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from litestar import Response, get
from litestar.exceptions import NotFoundException

from gateway.api.admit import client_ip
from gateway.api.types import HttpRequest
from gateway.auth.replay import ISSUED_NONCE_TTL_MS
from gateway.auth.siwx import SiwxAuthenticator
from gateway.limits.client_ip import ip_identity
from gateway.services import Services

_ENCODER = msgspec.json.Encoder()


class NonceResponse(msgspec.Struct, frozen=True, kw_only=True):
    nonce: str
    domain: str
    uri: str
    chains: list[str]
    issued_at: str
    expiration_time: str  # when the issued nonce is forgotten (5 minutes)


@get("/api/v1/auth/nonce", summary="Issue a sign-in nonce", operation_id="issueNonce")
async def issue_nonce(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    authenticator = services.authenticator
    if not isinstance(authenticator, SiwxAuthenticator):
        raise NotFoundException("authentication is disabled on this gateway")
    if not authenticator.policy.config.require_issued_nonce:
        raise NotFoundException("this gateway does not issue nonces: use a random one of your own")
    limits = services.runtime.config.limits
    await services.limits.rate_limits.check_ip_nonce(request.scope["state"], limits, ip_identity(client_ip(request)))
    nonce = await authenticator.replay.issue_nonce()
    now = datetime.now(UTC).replace(microsecond=0)
    body = NonceResponse(
        nonce=nonce,
        domain=authenticator.policy.primary_domain,
        uri=authenticator.policy.primary_origin,
        chains=list(authenticator.policy.config.chains),
        issued_at=now.isoformat().replace("+00:00", "Z"),
        expiration_time=(now + timedelta(milliseconds=ISSUED_NONCE_TTL_MS)).isoformat().replace("+00:00", "Z"),
    )
    return Response(content=_ENCODER.encode(body), media_type="application/json", headers={"Cache-Control": "no-store"})
