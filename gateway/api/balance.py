"""GET /api/v1/session/balance: what the caller's account can still spend, in the AiMo shape.

The AiMo SDK's `AimoClient.sessionBalance()` calls this path with its SIWX session header and reads
`caip_account_id`, `balance_usd` and `balance_micro_usdc`. The balance is what the account can
reserve now: the allowance left in the current period plus its prepaid balance (when the budget
draws on it), less the reservations of requests in flight; never below 0.
"""

from __future__ import annotations

import msgspec
from litestar import Response, get

from gateway.api.admit import client_ip
from gateway.api.types import HttpRequest
from gateway.auth.api_keys import authenticate
from gateway.config.cost import format_usd
from gateway.errors import ServiceUnavailable
from gateway.redis.backend import RedisUnavailable
from gateway.services import Services

BALANCE_PATH = "/api/v1/session/balance"
_ENCODER = msgspec.json.Encoder()


class SessionBalance(msgspec.Struct, frozen=True, kw_only=True):
    caip_account_id: str
    balance_micro_usdc: str  # integer string (1 USDC = 1 USD here)
    balance_usd: str  # decimal string, 6 places


@get(BALANCE_PATH, summary="The caller's balance (AiMo shape)", operation_id="sessionBalance")
async def session_balance(request: HttpRequest) -> Response[bytes]:
    services: Services = request.app.state.services
    runtime = services.runtime
    ip = client_ip(request)
    async with services.limits.admission.slot(runtime.config.limits.admission):
        # Every configured model named: a key limited to some models may still read its balance.
        names = tuple(runtime.config.models)
        principal = await authenticate(request.headers, ip, runtime.config.auth, services.authenticator, names)
    try:
        snapshot = await services.budgets.snapshot(runtime.config.budgets, principal.account)
    except RedisUnavailable:
        raise ServiceUnavailable("the budget store is unavailable; try again", retry_after=1) from None
    left = max(0, snapshot.available)
    body = SessionBalance(caip_account_id=principal.account, balance_micro_usdc=str(left), balance_usd=format_usd(left))
    return Response(content=_ENCODER.encode(body), media_type="application/json")
