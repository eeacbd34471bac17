"""Authentication: JWTs against a JWKS, RFC 7662 introspection, DPoP proofs."""

from gateway.auth.authenticator import Authenticator
from gateway.auth.dpop import access_token_hash, jwk_thumbprint
from gateway.auth.principal import AuthError, Principal

__all__ = ["AuthError", "Authenticator", "Principal", "access_token_hash", "jwk_thumbprint"]
