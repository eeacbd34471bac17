"""The demo engagement API: a token endpoint, a JWKS, and like/follow/comment endpoints.

It stands in for the operator's own API in ``gateway serve``, the tests and the
simulator. Demo users: any user name (letters, digits, ``._-``) with the
password ``demo``. Tokens are real RS256 JWTs signed with the demo key, which
is published in the repository and so must never protect anything real.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

DEMO_DIR = Path(__file__).resolve().parent
DEMO_CONFIG = DEMO_DIR / "config.yaml"
ISSUER = "https://demo.gateway.local"
AUDIENCE = "engagement-api"
KID = "demo-1"
PASSWORD = "demo"
TOKEN_TTL_S = 3600
_USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def demo_signing_key() -> bytes:
    return (DEMO_DIR / "demo-signing-key.pem").read_bytes()


def demo_jwks() -> dict:
    return json.loads((DEMO_DIR / "demo-jwks.json").read_text())


def issue_token(subject: str, *, client_id: str, device_id: str | None, now: float | None = None,
                session_id: str | None = None, key: bytes | None = None) -> str:
    """A demo access token: who (sub), which session (sid), which app (client_id), which device (did)."""
    now = time.time() if now is None else now
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "sid": session_id or secrets.token_hex(8),
        "client_id": client_id, "iat": int(now), "exp": int(now) + TOKEN_TTL_S, "jti": secrets.token_hex(8),
    }
    if device_id:
        claims["did"] = device_id
    return jwt.encode(claims, key or demo_signing_key(), algorithm="RS256", headers={"kid": KID})


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    # RFC 6749 section 5.2
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"cache-control": "no-store"})


def build_demo_app() -> Starlette:
    key = demo_signing_key()
    jwks = demo_jwks()

    async def token(request: Request) -> Response:
        body = await request.body()
        if len(body) > 8192:
            return _oauth_error("invalid_request", "request body too large")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "password":
            return _oauth_error("unsupported_grant_type", "the demo issues tokens for grant_type=password")
        user = form.get("username", "")
        if not _USER.match(user) or form.get("password") != PASSWORD:
            return _oauth_error("invalid_grant", "unknown user or wrong password (demo users use password 'demo')")
        client_id = form.get("client_id") or "engage-android"
        device_id = form.get("device_id") or request.headers.get("x-device-id")
        access = issue_token(user, client_id=client_id, device_id=device_id, key=key)
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL_S},
                            headers={"cache-control": "no-store"})

    async def jwks_endpoint(request: Request) -> Response:
        return JSONResponse(jwks)

    async def act(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def feed(request: Request) -> Response:
        return JSONResponse({"items": []})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks_endpoint),
        Route("/v1/media/{media_id}/like", act, methods=["POST"]),
        Route("/v1/media/{media_id}/comments", act, methods=["POST"]),
        Route("/v1/users/{user_id}/follow", act, methods=["POST"]),
        Route("/v1/feed", feed),
        Route("/healthz", health),
    ])


def build_protected_demo(settings=None, engine=None):
    """The demo API behind the gateway, with Prometheus metrics at /metrics."""
    from gateway.metrics import metrics_app
    from gateway.middleware import GatewayMiddleware
    from gateway.settings import load_settings

    app = build_demo_app()
    metrics = metrics_app()
    app.router.routes.append(Route("/metrics", _AsgiEndpoint(metrics)))  # /metrics itself, no redirect
    app.router.routes.append(Mount("/metrics", app=metrics))
    if engine is None and settings is None:
        settings = load_settings(DEMO_CONFIG)
    return GatewayMiddleware(app, settings, engine=engine)



class _AsgiEndpoint:
    """An ASGI app as a route's endpoint (Starlette calls a non-function endpoint as ASGI)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)
