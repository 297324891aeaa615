"""Authentication: who is calling. The request path asks one `Authenticator` for a `Principal`.

The SIWX verifier lives in `gateway.auth.siwx` (SiwxAuthenticator) and `gateway.auth.policy`
(AuthPolicy); its config section is `gateway.config.auth`.
"""

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.auth.principal import Authenticator, Principal

__all__ = ["AuthCode", "Authenticator", "Principal", "SiwxRejected"]
