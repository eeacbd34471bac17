"""The demo's authorization server: authlib's grants over in-memory codes and refresh tokens.

- password grant: first-party apps only; any user name with the password ``demo``;
- authorization code grant with PKCE (S256 only, always required): every app,
  and the only way in for partner apps, with their narrower scopes;
- refresh tokens, rotated: a used one is refused, and using it again revokes
  every refresh token of its session (someone else holds a copy);
- DPoP (RFC 9449): a proof on the token request binds the access token (and a
  refresh token) to the proof's key, checked by the gateway's own verifier.

Access tokens are the JWTs the demo always issued (iss, aud, sub, sid,
client_id, did, iat, exp, jti) plus ``scope`` and, when bound, ``cnf.jkt``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge

from gateway.auth.dpop import DPoPVerifier
from gateway.demo.clients import DemoClient
from gateway.demo.keys import FIRST_KID, PUBLISHED_KEY, DemoKeys
from gateway.demo.oauth import StarletteAuthorizationServer, StarletteOAuth2Request, printable
from gateway.demo.revocation import REVOKER_ID, DemoRevocationEndpoint, RevokerClient

ISSUER = "https://demo.gateway.local"
AUDIENCE = "engagement-api"
PASSWORD = "demo"
TOKEN_TTL_S = 3600
REFRESH_TTL_S = 30 * 86_400
CODE_TTL_S = 600  # RFC 6749 section 4.1.2: at most ten minutes
MAX_RECORDS = 100_000  # codes and refresh tokens each: the oldest go first
USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEVICE = re.compile(r"^[\x21-\x7e]{1,128}$")


class InvalidDPoPProofError(OAuth2Error):
    error = "invalid_dpop_proof"  # RFC 9449 section 5


@dataclass(frozen=True, slots=True)
class DemoUser:
    name: str

    def get_user_id(self) -> str:
        return self.name


@dataclass(slots=True)
class CodeRecord(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(slots=True)
class RefreshRecord(TokenMixin):
    token: str
    client_id: str
    user: str
    scope: str
    session_id: str
    device_id: str | None
    jkt: str | None  # bound to this DPoP key: only a proof by it may use the token
    family: str  # every refresh token of one session
    expires_at: float
    used: bool = False

    def check_client(self, client: DemoClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.used


class _Bounded(OrderedDict):
    """A dict that forgets its oldest entries past ``MAX_RECORDS``."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > MAX_RECORDS:
            self.popitem(last=False)


class _Issuing:
    """Grants issue through the server with the request at hand (session, device, DPoP key)."""

    request: StarletteOAuth2Request
    server: DemoAuthorizationServer
    GRANT_TYPE: str

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return self.server.issue(self.request, grant_type or self.GRANT_TYPE, user, scope, include_refresh_token)


class PasswordGrant(_Issuing, grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def authenticate_user(self, username: str, password: str) -> DemoUser:
        if not USER.match(username) or password != PASSWORD:
            raise InvalidGrantError("unknown user or wrong password (demo users use the password 'demo')")
        return DemoUser(username)


class CodeGrant(_Issuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: StarletteOAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = CodeRecord(
            code, request.client.client_id, request.payload.redirect_uri, request.scope, request.user.name,
            data.get("code_challenge"), data.get("code_challenge_method"), time.time() + CODE_TTL_S)

    def query_authorization_code(self, code: str, client: DemoClient) -> CodeRecord | None:
        record = self.server.codes.get(code)
        if record is None or record.client_id != client.client_id or time.time() >= record.expires_at:
            return None
        return record

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: CodeRecord) -> DemoUser:
        return DemoUser(authorization_code.user)


class RefreshGrant(_Issuing, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh answers with a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        # Grants run without an await from check to issue, so no other request interleaves here.
        record = self.server.refresh_tokens.get(refresh_token)
        if record is None or record.is_expired():
            return None
        if record.used:  # a second use: one of the two holders is not the app; end the session's refreshing
            self.server.revoke_family(record.family)
            raise InvalidGrantError("the refresh token was already used; the session's refresh tokens are revoked")
        if record.jkt is not None and self.request.dpop_jkt != record.jkt:
            raise InvalidDPoPProofError("the refresh token is DPoP-bound: send a DPoP proof signed by its key")
        return record

    def authenticate_user(self, refresh_token: RefreshRecord) -> DemoUser:
        return DemoUser(refresh_token.user)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        refresh_token.used = True


class S256Challenge(CodeChallenge):
    """PKCE on every code flow, S256 only (RFC 9700 section 2.1.1: plain reveals the verifier)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class DemoAuthorizationServer(StarletteAuthorizationServer):
    def __init__(self, clients: dict[str, DemoClient], keys: DemoKeys, dpop: DPoPVerifier) -> None:
        super().__init__(scopes_supported=sorted({s for c in clients.values() for s in c.scopes}))
        self.clients = clients
        self.keys = keys
        self.dpop = dpop
        self.codes: _Bounded = _Bounded()
        self.refresh_tokens: _Bounded = _Bounded()
        self.register_grant(PasswordGrant)
        self.register_grant(CodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(DemoRevocationEndpoint)

    def query_client(self, client_id: str) -> DemoClient | RevokerClient | None:
        if client_id == REVOKER_ID:
            return RevokerClient()
        return self.clients.get(client_id)

    def save_token(self, token: dict, request: StarletteOAuth2Request) -> None:
        pass  # issue() kept what a refresh needs; access tokens are self-contained JWTs

    def prove(self, request: StarletteOAuth2Request) -> None:
        """Check a DPoP proof on a token request (RFC 9449 section 5); its key binds what is issued."""
        request.dpop_jkt = None
        proofs = request.http.headers.getlist("dpop")
        if not proofs:
            return
        if len(proofs) > 1:
            raise InvalidDPoPProofError("send one DPoP header")
        url = str(request.http.url.replace(query="", fragment=""))
        jkt, problem = self.dpop.check_token_request(proofs[0], method=request.method, url=url, now=time.time())
        if jkt is None:
            raise InvalidDPoPProofError(printable(problem or "the DPoP proof is not valid", 200))
        request.dpop_jkt = jkt

    def issue(self, request: StarletteOAuth2Request, grant_type: str, user: DemoUser | None, scope: str | None,
              include_refresh_token: bool) -> dict[str, Any]:
        """The token response: a signed access token and, for clients that may refresh, a new refresh token."""
        client: DemoClient = request.client
        granted = client.get_allowed_scope(scope)
        if granted is None:
            raise InvalidScopeError(f"{client.client_id} may ask for: {' '.join(client.scopes)}")
        if user is None:
            raise InvalidGrantError("no user for this grant")
        previous: RefreshRecord | None = request.refresh_token if grant_type == "refresh_token" else None
        if previous is not None:  # the session goes on: same sid and device
            session_id, device_id, family = previous.session_id, previous.device_id, previous.family
        else:
            session_id, device_id, family = secrets.token_hex(8), device_of(request), secrets.token_hex(8)
        jkt: str | None = request.dpop_jkt
        access = issue_token(user.name, client_id=client.client_id, device_id=device_id, session_id=session_id,
                             scope=granted, jkt=jkt, keys=self.keys)
        token: dict[str, Any] = {"access_token": access, "token_type": "DPoP" if jkt else "Bearer",
                                 "expires_in": TOKEN_TTL_S, "scope": granted}
        if include_refresh_token and client.check_grant_type("refresh_token"):
            value = secrets.token_urlsafe(32)
            bound = jkt if previous is None else previous.jkt  # a refresh token keeps the key it was bound to
            self.refresh_tokens[value] = RefreshRecord(value, client.client_id, user.name, granted, session_id,
                                                       device_id, bound, family, time.time() + REFRESH_TTL_S)
            token["refresh_token"] = value
        return token

    def revoke_session(self, session_id: str) -> None:
        """RFC 7009 on a session's access token: none of its refresh tokens mints another."""
        for record in self.refresh_tokens.values():
            if record.session_id == session_id:
                record.used = True

    def revoke_family(self, family: str) -> None:
        for record in self.refresh_tokens.values():
            if record.family == family:
                record.used = True


def device_of(request: StarletteOAuth2Request) -> str | None:
    """The device the app names (form ``device_id``, else the X-Device-Id header)."""
    device = request.form.get("device_id") or request.http.headers.get("x-device-id")
    if device and not DEVICE.match(device):
        raise InvalidRequestError("device_id must be 1 to 128 visible ASCII characters")
    return device or None


def issue_token(subject: str, *, client_id: str, device_id: str | None, now: float | None = None,
                session_id: str | None = None, scope: str | None = None, jkt: str | None = None,
                keys: DemoKeys | None = None, key: bytes | None = None) -> str:
    """A demo access token: who (sub), which session (sid), which app (client_id), which device (did), what
    it may do (scope), and the DPoP key it is bound to (cnf.jkt). Signed by ``keys``' current key, else by
    ``key`` (PEM), else by the published demo key (kid demo-1)."""
    now = time.time() if now is None else now
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "sid": session_id or secrets.token_hex(8),
        "client_id": client_id, "iat": int(now), "exp": int(now) + TOKEN_TTL_S, "jti": secrets.token_hex(8),
    }
    if device_id:
        claims["did"] = device_id
    if scope is not None:
        claims["scope"] = scope
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    if keys is not None:
        return keys.sign(claims)
    return jwt.encode(claims, key or PUBLISHED_KEY.read_bytes(), algorithm="RS256", headers={"kid": FIRST_KID})
