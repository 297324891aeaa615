"""X-Request-Id: echo a well-formed incoming id, else generate one; stamped on every response."""

from __future__ import annotations

import re
import uuid

from litestar.types import Message, Scope

_VALID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_HEADER = b"x-request-id"


def request_id_of(scope: Scope) -> str:
    """The request's id, generated once per request and remembered in the scope's state."""
    state = scope.setdefault("state", {})
    rid: str | None = state.get("request_id")
    if rid is None:
        incoming = next((value for name, value in scope.get("headers", []) if name == _HEADER), None)
        rid = (
            incoming.decode("ascii")
            if incoming is not None and _VALID.match(incoming)
            else f"req-{uuid.uuid4().hex}"
        )
        state["request_id"] = rid
    return rid


async def stamp_request_id(message: Message, scope: Scope) -> None:
    """before_send hook: add X-Request-Id to every HTTP response, including routing 404s."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", []))
        if not any(name.lower() == _HEADER for name, _ in headers):
            headers.append((_HEADER, request_id_of(scope).encode("ascii")))
            message["headers"] = headers
