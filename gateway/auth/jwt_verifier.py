"""JWT access tokens: checked against the JWKS with the pinned algorithm, timed on the request's clock."""

from __future__ import annotations

import jwt

from gateway.auth.claims import build_principal, check_issuer_audience, check_times
from gateway.auth.jose import read_header, show
from gateway.auth.jwks import KeySet
from gateway.auth.principal import AuthError, Principal
from gateway.settings import Auth

# PyJWT checks the signature only: times are judged on the request's clock
# (replay runs recorded traffic on a virtual one), issuer and audience here.
_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


class JWTVerifier:
    def __init__(self, auth: Auth, keys: KeySet) -> None:
        self._auth = auth
        self._keys = keys
        self._algorithms = frozenset(auth.algorithms)
        self._pinned = ", ".join(auth.algorithms)

    def verify(self, token: str, token_hash: str, now: float) -> tuple[Principal, float, float]:
        """(principal, valid_from, valid_until) for a valid token; AuthError otherwise."""
        try:
            header = read_header(token)
        except ValueError as exc:
            raise AuthError("malformed", f"the token is not a well-formed JWT: {exc}") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthError("algorithm", f"the token's algorithm {show(alg)} is not accepted; expected {self._pinned}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("malformed", "the token's 'kid' header is not a string")
        typ = header.get("typ")
        if isinstance(typ, str) and typ.lower() == "dpop+jwt":
            raise AuthError("malformed", "a DPoP proof was sent where the access token belongs")
        if not self._keys.loaded:
            raise AuthError("no_keys", "the gateway has no signing keys loaded yet")
        key = self._keys.lookup(kid, alg)
        if key is None:
            if self._keys.knows(kid):
                raise AuthError("algorithm", f"key {show(kid)} does not verify {alg}")
            self._keys.request_refresh()  # maybe a rotation; this request is not held up for it
            raise AuthError("unknown_kid", f"the token's signing key {show(kid)} is not known")
        try:
            claims = jwt.decode(token, key=key, algorithms=[alg], options=_SIGNATURE_ONLY)  # type: ignore[arg-type]
        except jwt.InvalidSignatureError:
            raise AuthError("signature", "the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthError("malformed", f"the token cannot be decoded: {exc}") from None
        auth = self._auth
        check_issuer_audience(claims, auth.issuer, auth.audience)
        valid_from, valid_until = check_times(claims, now, auth.leeway_s, require_exp=True)
        return build_principal(claims, auth, kind="jwt", token_hash=token_hash), valid_from, valid_until
