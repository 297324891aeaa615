"""Authentication: who is calling. The request path asks one `Authenticator` for a `Principal`."""

from gateway.auth.config import AuthConfig
from gateway.auth.principal import Authenticator, Principal

__all__ = ["AuthConfig", "Authenticator", "Principal"]
