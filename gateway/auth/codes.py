"""The contract's auth error codes (spec/siwx-auth.md) and the one exception the verifier raises."""

from __future__ import annotations

import enum


class AuthCode(enum.StrEnum):
    MISSING = "auth_missing"
    MALFORMED = "auth_malformed"
    INVALID_MESSAGE = "auth_invalid_message"
    DOMAIN_MISMATCH = "auth_domain_mismatch"
    URI_MISMATCH = "auth_uri_mismatch"
    UNSUPPORTED_CHAIN = "auth_unsupported_chain"
    ISSUED_IN_FUTURE = "auth_issued_in_future"
    EXPIRED = "auth_expired"
    LIFETIME_TOO_LONG = "auth_lifetime_too_long"
    NOT_YET_VALID = "auth_not_yet_valid"
    UNSUPPORTED_SIGNATURE = "auth_unsupported_signature"
    INVALID_SIGNATURE = "auth_invalid_signature"
    NONCE_REUSED = "auth_nonce_reused"
    NONCE_UNKNOWN = "auth_nonce_unknown"


class SiwxRejected(Exception):
    """A verification step refused the envelope. The authenticator turns it into a 401 AuthError.

    `message` is safe to show the client: it never contains the header, message or signature."""

    def __init__(self, code: AuthCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
