"""RFC 7009 token revocation for the demo: a client revokes its own tokens; the gateway revokes a session's.

The gateway holds no refresh token: it posts the session's access token
(``token_type_hint=access_token``) and the demo revokes every refresh token of
that session (refresh tokens are kept by session), so the app cannot mint a
new access token. The gateway authenticates as the confidential client
``gateway-revoker`` (HTTP Basic); it may revoke any client's session, which a
partner app's own ``none``-authenticated request never may.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

import jwt
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc7009 import RevocationEndpoint

REVOKER_ID = "gateway-revoker"
# Demo only, like the published signing key: GATEWAY_REVOCATION_SECRET overrides it.
DEMO_REVOKER_SECRET = "demo-revocation-secret"


@dataclass(frozen=True, slots=True)
class RevokerClient(ClientMixin):
    """The gateway, as a confidential client that may only revoke."""

    client_id: str = REVOKER_ID

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        expected = os.environ.get("GATEWAY_REVOCATION_SECRET") or DEMO_REVOKER_SECRET
        return hmac.compare_digest(client_secret.encode(), expected.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic" and endpoint == "revocation"

    def check_grant_type(self, grant_type: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class SessionToken:
    """An access token named for revocation: the session it belongs to and its client."""

    session_id: str
    client_id: str

    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()


class DemoRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "none"]
    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is not None and client.get_client_id() != REVOKER_ID and not token.check_client(client):
            raise InvalidGrantError("the token was issued to another client")
        return token

    def query_token(self, token_string: str, token_type_hint: str | None):
        server = self.server
        if token_type_hint != "access_token":
            record = server.refresh_tokens.get(token_string)
            if record is not None:
                return record
        try:  # an access token: the demo's own JWT, verified with its keys
            claims = server.keys.verify(token_string)
        except (jwt.PyJWTError, ValueError, KeyError):
            return None  # RFC 7009 section 2.2: an invalid token is answered 200 all the same
        sid, cid = claims.get("sid"), claims.get("client_id")
        return SessionToken(sid, cid) if isinstance(sid, str) and isinstance(cid, str) else None

    def revoke_token(self, token, request) -> None:
        if isinstance(token, SessionToken):
            self.server.revoke_session(token.session_id)
        else:
            self.server.revoke_family(token.family)
