"""Authentication: who is calling. The request path asks one `Authenticator` for a `Principal`.

Kept import-light (gateway.config imports AuthConfig from here): the SIWX verifier lives in
`gateway.auth.siwx` (SiwxAuthenticator) and `gateway.auth.policy` (AuthPolicy).
"""

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.auth.config import AuthConfig
from gateway.auth.principal import Authenticator, Principal

__all__ = ["AuthCode", "AuthConfig", "Authenticator", "Principal", "SiwxRejected"]
