"""Step 1: the `Sign-In-With-X` header -> (message, signature).

token = standard Base64 (padded) of UTF-8 JSON `{"message": str, "signature": str}`. Anything else —
over 8 KiB, URL-safe alphabet, whitespace, not UTF-8, not a JSON object, extra or duplicate keys,
non-string values — is `auth_malformed`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from gateway.auth.codes import AuthCode, SiwxRejected

HEADER_NAME = "Sign-In-With-X"
MAX_HEADER_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class Envelope:
    message: str
    signature: str


def _malformed(reason: str) -> SiwxRejected:
    return SiwxRejected(AuthCode.MALFORMED, reason)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _malformed(f"duplicate key {key!r} in the envelope")
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    raise _malformed(f"{name} is not valid JSON")


def decode_envelope(token: str | None) -> Envelope:
    """Decode the header value; raises SiwxRejected (auth_missing / auth_malformed)."""
    if token is None or token.strip() == "":
        raise SiwxRejected(AuthCode.MISSING, f"the {HEADER_NAME} header is required")
    if len(token) > MAX_HEADER_BYTES:
        raise _malformed(f"the {HEADER_NAME} header is larger than {MAX_HEADER_BYTES} bytes")
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise _malformed("the header is not standard Base64") from exc
    try:
        data = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _malformed("the header does not hold UTF-8 JSON") from exc
    if not isinstance(data, dict) or set(data) != {"message", "signature"}:
        raise _malformed('the envelope must be a JSON object {"message": ..., "signature": ...}')
    message, signature = data["message"], data["signature"]
    if not isinstance(message, str) or not isinstance(signature, str):
        raise _malformed("message and signature must be strings")
    return Envelope(message=message, signature=signature)


def encode_envelope(message: str, signature: str) -> str:
    """The header value for a signed message (used by the client)."""
    body = json.dumps({"message": message, "signature": signature}, ensure_ascii=False)
    return base64.b64encode(body.encode("utf-8")).decode("ascii")
