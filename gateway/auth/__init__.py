"""Authentication: who is calling. The request path asks one `Authenticator` for a `Principal`."""

from gateway.auth.codes import AuthCode, SiwxRejected
from gateway.auth.config import AuthConfig
from gateway.auth.policy import AuthPolicy
from gateway.auth.principal import Authenticator, Principal
from gateway.auth.siwx import SiwxAuthenticator

__all__ = ["AuthCode", "AuthConfig", "AuthPolicy", "Authenticator", "Principal", "SiwxAuthenticator", "SiwxRejected"]
