"""Helpers for testing apps behind the gateway: real signing keys, real tokens, real DPoP proofs."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.auth.dpop import access_token_hash, jwk_thumbprint

# -- token minting ------------------------------------------------------------

_KEY_ALGORITHMS = ("RS256", "ES256", "EdDSA")
DEMO_SIGNING_KEY = Path(__file__).resolve().parent / "demo" / "demo-signing-key.pem"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _generate(algorithm: str) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"algorithm {algorithm!r}: use one of {', '.join(_KEY_ALGORITHMS)}")


def _public_jwk(private_key: PrivateKey, algorithm: str) -> dict[str, Any]:
    algo = jwt.get_algorithm_by_name(algorithm)
    return dict(json.loads(algo.to_jwk(private_key.public_key())))


class TokenMinter:
    """An issuer for tests: signing key pairs (one per kid), their JWKS, and tokens with any claims.

    >>> minter = TokenMinter()
    >>> token = minter.mint("alice", session_id="s1", device_id="phone-1")
    """

    def __init__(
        self,
        issuer: str = "https://issuer.test",
        audience: str = "api",
        kid: str = "test-1",
        algorithm: str = "RS256",
        *,
        private_key: PrivateKey | bytes | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm
        self.kid = kid  # the key tokens are signed with unless mint() names another
        self._keys: dict[str, tuple[PrivateKey, str]] = {}
        self.add_key(kid, algorithm, private_key=private_key)

    def add_key(self, kid: str, algorithm: str | None = None, *, private_key: PrivateKey | bytes | None = None) -> None:
        """Another signing key (e.g. for a rotation test); it joins the JWKS."""
        algorithm = algorithm or self.algorithm
        if isinstance(private_key, bytes):
            private_key = serialization.load_pem_private_key(private_key, password=None)  # type: ignore[assignment]
        key = private_key if private_key is not None else _generate(algorithm)
        self._keys[kid] = (key, algorithm)  # type: ignore[assignment]

    def remove_key(self, kid: str) -> None:
        """Drop a key from the JWKS (and from signing)."""
        del self._keys[kid]

    def private_key(self, kid: str | None = None) -> PrivateKey:
        return self._keys[kid or self.kid][0]

    def public_key_pem(self, kid: str | None = None) -> bytes:
        return self.private_key(kid).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JSON Web Key Set."""
        keys = []
        for kid, (key, algorithm) in self._keys.items():
            jwk = _public_jwk(key, algorithm)
            jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def write_jwks(self, path: str | os.PathLike[str]) -> Path:
        """Write the JWKS atomically (a reader never sees half a file); returns the path."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(self.jwks(), indent=1))
        os.replace(tmp, path)
        return path

    def mint(
        self,
        subject: str,
        *,
        session_id: str | None = None,
        client_id: str | None = None,
        device_id: str | None = None,
        ttl: float = 3600,
        issued_at: float | None = None,
        kid: str | None = None,
        app: Any = None,
        **claims: Any,
    ) -> str:
        """A signed token. Extra keyword claims are added (or replace defaults); a claim given as None is left out.

        ``app`` (a profile from ``app_profiles()``) sets ``client_id`` and ``scope`` as that app's tokens carry them.
        """
        if app is not None:
            client_id = client_id or app.client_id
            claims.setdefault("scope", " ".join(app.scopes))
        iat = int(time.time() if issued_at is None else issued_at)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": iat,
            "exp": int(iat + ttl),
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            payload["sid"] = session_id
        if client_id is not None:
            payload["client_id"] = client_id
        if device_id is not None:
            payload["did"] = device_id
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        kid = kid or self.kid
        key, algorithm = self._keys[kid]
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid, "typ": "JWT"})  # type: ignore[arg-type]

    def auth_settings(self, jwks_path: str | os.PathLike[str]) -> dict[str, Any]:
        """The ``auth:`` config section that accepts this minter's tokens from a JWKS file."""
        return {
            "issuer": self.issuer,
            "audience": self.audience,
            "algorithms": sorted({algorithm for _, algorithm in self._keys.values()}),
            "jwks_file": str(jwks_path),
        }


class DPoPKey:
    """A client's DPoP key pair: its thumbprint (for ``cnf.jkt``) and fresh proofs (RFC 9449)."""

    def __init__(self, algorithm: str = "ES256") -> None:
        self.algorithm = algorithm
        self._key = _generate(algorithm)
        self.jwk = _public_jwk(self._key, algorithm)
        self.thumbprint = jwk_thumbprint(self.jwk)

    @property
    def cnf(self) -> dict[str, str]:
        """The confirmation claim binding a token to this key: ``mint(..., cnf=key.cnf)``."""
        return {"jkt": self.thumbprint}

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        **claims: Any,
    ) -> str:
        """A DPoP proof for one request; extra claims are added (or override), None leaves one out."""
        payload: dict[str, Any] = {
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
            "jti": jti or uuid.uuid4().hex,
        }
        if access_token is not None:
            payload["ath"] = access_token_hash(access_token)
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        return jwt.encode(payload, self._key, algorithm=self.algorithm, headers=headers)  # type: ignore[arg-type]


def demo_minter() -> TokenMinter:
    """The demo issuer: the bundled demo signing key, kid demo-1, as the demo token endpoint signs."""
    return TokenMinter(
        issuer="https://demo.gateway.local",
        audience="engagement-api",
        kid="demo-1",
        algorithm="RS256",
        private_key=DEMO_SIGNING_KEY.read_bytes(),
    )


# -- mock clients -------------------------------------------------------------

APP_USER_AGENT = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"


def app_profiles(settings: Any = None) -> dict[str, Any]:
    """The apps a mock can play, by client id: kind, scopes, User-Agent, TLS fingerprint, redirect URIs.

    The demo's apps, with kind, scopes and TLS as ``settings.apps`` describes them (the demo config when
    ``settings`` is None is not read: pass ``load_settings(...)`` for your own).
    """
    from gateway.demo.clients import demo_clients

    return dict(demo_clients(settings))


def _unverified_claims(token: str) -> dict:
    """A token's claims, unverified: the mock only mirrors what its own token says (an opaque one says nothing)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


class MockClient:
    """One simulated person's app talking to a gateway, for your own integration tests.

    It talks to a running gateway (``base_url``) or, in process, to an ASGI app
    (``app``, e.g. your app wrapped in GatewayMiddleware). The edge proxy is
    simulated the way the gateway expects it: the client address travels in
    ``X-Forwarded-For`` from ``peer`` (trust it in ``network.trusted_proxies``),
    with the device id and TLS fingerprint headers beside it::

        async with MockClient(app=protected, ip="11.1.0.20", token=minter.mint("alice")) as alice:
            assert (await alice.request("POST", "/v1/posts/p1/like")).status_code == 200

    What it sends by default: the demo app's User-Agent (``APP_USER_AGENT``;
    pass your own app's), ``Accept-Language: en-US``, no TLS fingerprint, and
    as device id the token's ``device_claim`` (``did``) when the token has
    one, else ``device_id`` (``mock-device-1``): a device id that contradicts
    the token is what a borrowed token looks like. ``login`` asks a token
    endpoint with the demo's password grant; ``like``, ``comment`` and
    ``follow`` use the demo API's paths.
    """

    def __init__(self, *, app=None, base_url: str | None = None, ip: str = "11.1.0.20",
                 device_id: str | None = None, user_agent: str = APP_USER_AGENT, tls: str | None = None,
                 client_id: str = "engage-android", peer: str = "127.0.0.1", token: str | None = None,
                 device_claim: str = "did", dpop: DPoPKey | None = None) -> None:
        import httpx

        if (app is None) == (base_url is None):
            raise ValueError("MockClient needs exactly one of app= (in process) or base_url= (over HTTP)")
        transport = httpx.ASGITransport(app=app, client=(peer, 50000)) if app is not None else None
        self._http = httpx.AsyncClient(transport=transport, base_url=base_url or "http://gateway.test")
        self.ip, self.user_agent, self.tls, self.client_id = ip, user_agent, tls, client_id
        self._device_id, self.device_claim = device_id, device_claim
        self.token = token  # sent as a Bearer token: one from login(), or one a TokenMinter made
        self.dpop = dpop  # with a key: token requests carry a proof (a DPoP-bound token), and so does each use
        self.token_type = "DPoP" if dpop is not None and token and _unverified_claims(token).get("cnf") else "Bearer"
        self.refresh_token: str | None = None

    @classmethod
    def for_app(cls, client_id: str, *, settings: Any = None, **kwargs: Any) -> MockClient:
        """A mock of one app (``app_profiles()``): its client id, User-Agent and TLS fingerprint."""
        profile = app_profiles(settings)[client_id]
        kwargs.setdefault("user_agent", profile.user_agent)
        kwargs.setdefault("tls", profile.tls)
        return cls(client_id=client_id, **kwargs)

    @property
    def device_id(self) -> str:
        """``device_id`` if given, else the token's device claim, else ``mock-device-1``."""
        if self._device_id is not None:
            return self._device_id
        claim = _unverified_claims(self.token).get(self.device_claim) if self.token else None
        return claim if isinstance(claim, str) and claim else "mock-device-1"

    def headers(self) -> dict[str, str]:
        h = {"user-agent": self.user_agent, "accept": "application/json", "accept-language": "en-US",
             "x-forwarded-for": self.ip, "x-device-id": self.device_id}
        if self.tls:
            h["x-ja4"] = self.tls
        if self.token:
            h["authorization"] = f"{self.token_type} {self.token}"
        return h

    def _signed(self, method: str, path: str, *, with_token: bool = True) -> dict[str, str]:
        """This client's headers, plus a fresh DPoP proof for this request when it has a key."""
        h = self.headers()
        if self.dpop is not None and (self.token_type == "DPoP" or not with_token):
            url = str(self._http.base_url.join(path).copy_with(query=None))
            h["dpop"] = self.dpop.proof(method, url, self.token if with_token else None)
        if not with_token:
            h.pop("authorization", None)
        return h

    async def _token_request(self, path: str, form: dict[str, str]) -> str:
        r = await self._http.post(path, headers=self._signed("POST", path, with_token=False), data=form)
        r.raise_for_status()
        answer = r.json()
        self.token, self.token_type = answer["access_token"], answer.get("token_type", "Bearer")
        self.refresh_token = answer.get("refresh_token", self.refresh_token)
        return self.token

    async def login(self, username: str, password: str = "demo", path: str = "/oauth/token") -> str:
        """Get a token with the demo's password grant, so the gateway sees the session born (DPoP-bound with a key)."""
        return await self._token_request(path, {
            "grant_type": "password", "username": username, "password": password,
            "client_id": self.client_id, "device_id": self.device_id})

    async def authorize(self, username: str, scope: str | None = None, redirect_uri: str | None = None,
                        path: str = "/oauth/authorize", token_path: str = "/oauth/token") -> str:
        """The code flow with PKCE (S256), as a partner app runs it; the demo approves for ``username``."""
        import base64
        import hashlib
        import secrets
        from urllib.parse import parse_qs, urlsplit

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"response_type": "code", "client_id": self.client_id, "state": secrets.token_hex(8),
                  "code_challenge": challenge, "code_challenge_method": "S256", "user": username}
        if scope is not None:
            params["scope"] = scope
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        r = await self._http.get(path, params=params, headers=self.headers())
        if r.status_code != 302:
            raise RuntimeError(f"the authorization endpoint answered {r.status_code}: {r.text[:200]}")
        answer = parse_qs(urlsplit(r.headers["location"]).query)
        if answer.get("state") != [params["state"]] or "code" not in answer:
            raise RuntimeError(f"the authorization endpoint sent no code: {r.headers['location'][:200]}")
        form = {"grant_type": "authorization_code", "code": answer["code"][0], "client_id": self.client_id,
                "code_verifier": verifier}
        if redirect_uri is not None:
            form["redirect_uri"] = redirect_uri
        return await self._token_request(token_path, form)

    async def refresh(self, path: str = "/oauth/token") -> str:
        """Trade the refresh token for a new access token (and a new refresh token: the old one is spent)."""
        if self.refresh_token is None:
            raise RuntimeError("no refresh token: log in first")
        return await self._token_request(path, {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                                                "client_id": self.client_id})

    async def request(self, method: str, path: str, **kwargs):
        """Any request to your own API, with this client's headers (and token); kwargs go to httpx."""
        return await self._http.request(method, path, headers={**self._signed(method, path), **kwargs.pop("headers", {})},
                                        **kwargs)

    async def like(self, media_id: str):  # like, comment and follow use the demo API's paths
        return await self.request("POST", f"/v1/media/{media_id}/like")

    async def comment(self, media_id: str, text: str = "nice"):
        return await self.request("POST", f"/v1/media/{media_id}/comments", json={"text": text})

    async def follow(self, user_id: str):
        return await self.request("POST", f"/v1/users/{user_id}/follow")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MockClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def __getattr__(name: str):
    # The simulator's personas and live runner, for driving a whole population.
    if name in ("Persona", "run_live", "LiveResult", "Scenario", "get_scenario"):
        import gateway.offline as sim

        return getattr(sim, name)
    raise AttributeError(f"module 'gateway.testing' has no attribute {name!r}")
