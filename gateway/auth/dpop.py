"""DPoP proofs (RFC 9449): a token bound to a key (cnf.jkt) is only good with a fresh proof signed by that key."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt

from gateway.auth.jose import b64url, read_header, show
from gateway.numbers import finite_number
from gateway.settings import Auth, ConfigError

_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA"}
)
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# RFC 7638 section 3.2: the members a thumbprint hashes, per key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "oct": ("k", "kty")}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIGNATURE_ONLY = {
    "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
    "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False, "require": [],
}
_MAX_JTI = 256


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK, base64url."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ValueError("not an RSA, EC, OKP or oct key with all its required members")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """The ``ath`` a proof carries for a token: base64url(SHA-256(token))."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalize_htu(url: str) -> str:
    """An HTTP URI without query and fragment, normalized (RFC 9449 section 4.3, RFC 3986 section 6.2)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        raise ValueError("not an absolute http(s) URI")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{unquote(parts.path) or '/'}"


class _Refused(Exception):
    pass


class _SeenProofs:
    """The proofs accepted within the window, by key thumbprint and jti: bounded, and never forgetting one early.

    An LRU would let a flood of fresh proofs push out a victim's and so allow its
    replay. Here only expired entries leave; while the table is full of live ones,
    new proofs are refused (the client retries with a fresh proof later), and one
    key may hold at most ``per_key`` live proofs, so a single client cannot fill it.
    """

    def __init__(self, window_s: float, capacity: int, per_key: int) -> None:
        self.window_s, self.capacity, self.per_key = window_s, capacity, per_key
        self._at: OrderedDict[tuple[str, str], float] = OrderedDict()  # in the order accepted
        self._per_key: dict[str, int] = {}

    def add(self, jkt: str, jti: str, now: float) -> None:
        """Remember a proof, or raise _Refused: a replay, or no room for a live one."""
        self._expire(now)
        seen_at = self._at.get((jkt, jti))
        if seen_at is not None and abs(now - seen_at) < self.window_s:
            raise _Refused("the DPoP proof was already used (jti replay)")
        if len(self._at) >= self.capacity:
            raise _Refused("the gateway is remembering as many recent DPoP proofs as it may; retry shortly")
        if self._per_key.get(jkt, 0) >= self.per_key:
            raise _Refused(f"this key sent more than {self.per_key} DPoP proofs in {self.window_s:.0f} s")
        if seen_at is None:
            self._per_key[jkt] = self._per_key.get(jkt, 0) + 1
        self._at[(jkt, jti)] = now
        self._at.move_to_end((jkt, jti))

    def _expire(self, now: float) -> None:
        at, per_key, cut = self._at, self._per_key, now - self.window_s
        while at:
            (jkt, jti), seen = next(iter(at.items()))
            if seen > cut:
                return
            del at[(jkt, jti)]
            left = per_key[jkt] - 1
            if left:
                per_key[jkt] = left
            else:
                del per_key[jkt]

    def __len__(self) -> int:
        return len(self._at)


class DPoPVerifier:
    """Checks proofs; remembers the jti of every accepted proof for ``jti_window_s`` (bounded)."""

    def __init__(self, auth: Auth, *, jti_cache_size: int = 200_000, jti_per_key: int = 2_000) -> None:
        config = auth.dpop
        bad = [alg for alg in config.algorithms if alg not in _ASYMMETRIC]
        if bad:
            raise ConfigError(
                f"auth.dpop.algorithms: {', '.join(bad)} cannot sign a DPoP proof; use asymmetric ones such as ES256, RS256 or EdDSA"
            )
        if config.jti_window_s < config.max_age_s + auth.leeway_s:
            raise ConfigError(
                f"auth.dpop.jti_window_s: {config.jti_window_s} is shorter than max_age_s + leeway_s "
                f"({config.max_age_s + auth.leeway_s}); a proof could be replayed after its jti is forgotten"
            )
        self.algorithms = config.algorithms
        self._algorithm_set = frozenset(config.algorithms)
        self._max_age_s = config.max_age_s
        self._leeway_s = auth.leeway_s
        self._max_bytes = auth.max_token_bytes
        self._seen = _SeenProofs(config.jti_window_s, jti_cache_size, jti_per_key)

    def check(self, proof: str | None, *, method: str, url: str, access_token: str, jkt: str, now: float) -> str | None:
        """None if the proof is good for this request and token; otherwise what is wrong with it."""
        try:
            self._verify(proof, method, url, access_token, jkt, now)
        except _Refused as refused:
            return str(refused)
        return None

    def check_token_request(self, proof: str, *, method: str, url: str, now: float,
                            jkt: str | None = None) -> tuple[str | None, str | None]:
        """A proof sent to a token endpoint (RFC 9449 section 5): no access token yet, so no ``ath``; the key is
        the client's choice unless ``jkt`` names the one a refresh token is bound to. Returns (thumbprint of the
        proof's key, None) when it is good, else (None, what is wrong with it)."""
        try:
            return self._verify(proof, method, url, None, jkt, now), None
        except _Refused as refused:
            return None, str(refused)

    def _verify(self, proof: str | None, method: str, url: str, access_token: str | None, jkt: str | None,
                now: float) -> str:
        """The proof's key thumbprint once every check passed; _Refused says which one did not."""
        if not proof:
            raise _Refused("the token is DPoP-bound but no DPoP proof was sent")
        if len(proof) > self._max_bytes or not proof.isascii():
            raise _Refused("the DPoP header is not a single proof of acceptable size")
        try:
            header = read_header(proof)
        except ValueError as exc:
            raise _Refused(f"the DPoP proof is not a well-formed JWT: {exc}") from None
        if header.get("typ") != "dpop+jwt":
            raise _Refused("the DPoP proof's typ must be dpop+jwt")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithm_set:
            raise _Refused(f"the DPoP proof's algorithm {show(alg)} is not accepted; use {', '.join(self.algorithms)}")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise _Refused("the DPoP proof has no public key (jwk) in its header")
        if any(member in jwk for member in _PRIVATE_MEMBERS):
            raise _Refused("the DPoP proof's jwk holds private key material")
        try:
            thumbprint = jwk_thumbprint(jwk)
        except ValueError as exc:
            raise _Refused(f"the DPoP proof's jwk is unusable: {exc}") from None
        if jkt is not None and not hmac.compare_digest(thumbprint, jkt):
            raise _Refused("the DPoP proof is signed by a key other than the one the token is bound to")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims = jwt.decode(proof, key=key, algorithms=[alg], options=_SIGNATURE_ONLY)  # type: ignore[arg-type]
        except jwt.InvalidSignatureError:
            raise _Refused("the DPoP proof's signature does not verify") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise _Refused(f"the DPoP proof cannot be verified: {exc}") from None
        if claims.get("htm") != method:
            raise _Refused("the DPoP proof was made for another HTTP method (htm)")
        htu = claims.get("htu")
        try:
            same_uri = isinstance(htu, str) and normalize_htu(htu) == normalize_htu(url)
        except ValueError:
            same_uri = False
        if not same_uri:
            raise _Refused("the DPoP proof was made for another URI (htu)")
        iat = finite_number(claims.get("iat"))
        if iat is None:
            raise _Refused("the DPoP proof has no numeric iat")
        if now - iat > self._max_age_s:
            raise _Refused("the DPoP proof is too old (iat)")
        if iat - now > self._leeway_s:
            raise _Refused("the DPoP proof was made in the future (iat)")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
                raise _Refused("the DPoP proof is not for this access token (ath)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI:
            raise _Refused("the DPoP proof has no usable jti")
        self._seen.add(thumbprint, jti, now)
        return thumbprint
