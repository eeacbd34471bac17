"""The demo engagement API: an OAuth 2 authorization server, a JWKS, and like/follow/comment endpoints.

It stands in for the operator's own API in ``gateway serve``, the tests and the
simulator. Demo users: any user name (letters, digits, ``._-``) with the
password ``demo``; partner apps get in through the code flow, where the demo
approves the consent for whichever user is named (see authserver.py). Tokens
are real RS256 JWTs signed with the demo keys; the first of them is published
in the repository and so must never protect anything real.
"""

from __future__ import annotations

import dataclasses
import html
import ipaddress
import json
import logging
from pathlib import Path
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from gateway.auth.dpop import DPoPVerifier
from gateway.demo.authserver import (
    AUDIENCE,
    ISSUER,
    PASSWORD,
    TOKEN_TTL_S,
    USER,
    DemoAuthorizationServer,
    DemoUser,
    issue_token,
)
from gateway.demo.clients import demo_clients
from gateway.demo.keys import FIRST_KID, PUBLISHED_KEY, DemoKeys
from gateway.demo.oauth import read_oauth_request
from gateway.settings import Auth, Settings

__all__ = ["AUDIENCE", "DEMO_CONFIG", "DEMO_DIR", "ISSUER", "KID", "PASSWORD", "TOKEN_TTL_S", "build_demo_app",
           "build_protected_demo", "demo_jwks", "demo_signing_key", "issue_token"]

DEMO_DIR = Path(__file__).resolve().parent
DEMO_CONFIG = DEMO_DIR / "config.yaml"
PUBLISHED_JWKS = DEMO_DIR / "demo-jwks.json"  # demo-1 alone: for configs that verify demo tokens without the demo
KID = FIRST_KID
log = logging.getLogger("gateway.demo")


def demo_signing_key() -> bytes:
    return PUBLISHED_KEY.read_bytes()


def demo_jwks() -> dict:
    return json.loads(PUBLISHED_JWKS.read_text())


def build_demo_app(settings: Settings | None = None, keys: DemoKeys | None = None) -> Starlette:
    """The demo API alone. ``settings`` describes the apps (``apps:``) and DPoP limits; ``keys`` signs."""
    keys = keys or DemoKeys()
    auth = settings.auth if settings is not None else Auth()
    server = DemoAuthorizationServer(dict(demo_clients(settings)), keys, DPoPVerifier(auth))

    async def token(request: Request) -> Response:
        try:
            oauth_request = await read_oauth_request(request, "token")
            if not oauth_request.payload.grant_type:
                raise InvalidRequestError("grant_type is required: password, authorization_code or refresh_token")
            server.prove(oauth_request)
        except OAuth2Error as error:
            return server.error_response(error)
        return server.create_token_response(oauth_request)

    async def revoke(request: Request) -> Response:
        try:
            oauth_request = await read_oauth_request(request, "revocation")
        except OAuth2Error as error:
            return server.error_response(error)
        return server.create_endpoint_response("revocation", oauth_request)

    async def authorize(request: Request) -> Response:
        try:
            oauth_request = await read_oauth_request(request, "authorization")
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return server.error_response(error)
        user = oauth_request.payload.data.get("user", "")
        if not USER.match(user):
            return _consent_page(oauth_request.payload.data, problem=bool(user))
        return server.create_authorization_response(oauth_request, grant_user=DemoUser(user), grant=grant)

    async def jwks_endpoint(request: Request) -> Response:
        return JSONResponse(keys.jwks())

    async def metadata(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")  # RFC 8414: where this server's endpoints are
        return JSONResponse({
            "issuer": ISSUER, "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
            "jwks_uri": base + "/.well-known/jwks.json",
            "revocation_endpoint": base + "/oauth/revoke", "scopes_supported": server.scopes_supported,
            "response_types_supported": ["code"], "grant_types_supported": ["password", "authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"], "token_endpoint_auth_methods_supported": ["none"],
            "dpop_signing_alg_values_supported": list(auth.dpop.algorithms),
        })

    async def rotate(request: Request) -> Response:
        # Demo-only administration: from this machine, not through a proxy
        if not _loopback(request) or request.headers.get("x-forwarded-for") or request.headers.get("forwarded"):
            return JSONResponse({"error": "forbidden", "error_description": "key rotation is for loopback callers only"},
                                status_code=403)
        described = keys.rotate()
        log.info("demo keys rotated: signing with %s, next %s", described["current"], described["next"])
        return JSONResponse(described)

    async def act(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def feed(request: Request) -> Response:
        return JSONResponse({"items": []})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/oauth/authorize", authorize, methods=["GET", "POST"]),
        Route("/.well-known/jwks.json", jwks_endpoint),
        Route("/.well-known/oauth-authorization-server", metadata),
        Route("/admin/keys/rotate", rotate, methods=["POST"]),
        Route("/v1/media/{media_id}/like", act, methods=["POST"]),
        Route("/v1/media/{media_id}/comments", act, methods=["POST"]),
        Route("/v1/users/{user_id}/follow", act, methods=["POST"]),
        Route("/v1/feed", feed),
        Route("/healthz", health),
    ])
    return app


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _consent_page(params: dict[str, str], problem: bool) -> Response:
    """Demo-only sign-in and consent in one: name a user, and the demo approves what the app asked for."""
    kept = {k: v for k, v in params.items() if k != "user"}
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in kept.items())
    note = "<p>A user name is letters, digits, '.', '_' or '-'.</p>" if problem else ""
    body = f"""<!doctype html><title>Demo consent</title>
<h1>{html.escape(kept.get("client_id", ""))} asks for: {html.escape(kept.get("scope", "") or "its default scopes")}</h1>
<p>DEMO ONLY: no password is asked and the consent is approved for the user you name.</p>{note}
<form method="get" action="/oauth/authorize">{hidden}<label>user <input name="user" autofocus></label>
<button>approve</button></form>
<p>Or add <code>&amp;user=alice</code> to <code>/oauth/authorize?{html.escape(urlencode(kept))}</code>.</p>"""
    return HTMLResponse(body, status_code=400 if problem else 200, headers={"cache-control": "no-store"})


def live_settings(settings: Settings, keys: DemoKeys) -> Settings:
    """The gateway's settings in front of a running demo: where a config verifies demo tokens with the published
    demo-jwks.json, it reads the running demo's key set instead (current, next and retired keys)."""
    source = settings.resolve(settings.auth.jwks_file)
    if source is None or Path(source).resolve() != PUBLISHED_JWKS:
        return settings
    return dataclasses.replace(settings, auth=dataclasses.replace(settings.auth, jwks_file=str(keys.jwks_path)))


def build_protected_demo(settings: Settings | None = None, engine=None, keys: DemoKeys | None = None):
    """The demo API behind the gateway, with Prometheus metrics at /metrics.

    Given settings (or none: the embedded demo config), the gateway follows the demo's key rotations; given
    an engine, it verifies with whatever keys that engine's config names.
    """
    from gateway.frontdoors.middleware import GatewayMiddleware
    from gateway.metrics import metrics_app
    from gateway.settings import load_settings

    keys = keys or DemoKeys()
    if engine is None:
        settings = live_settings(settings if settings is not None else load_settings(DEMO_CONFIG), keys)
    app = build_demo_app(settings if engine is None else engine.settings, keys)
    metrics = metrics_app()
    app.router.routes.append(Route("/metrics", _AsgiEndpoint(metrics)))  # /metrics itself, no redirect
    app.router.routes.append(Mount("/metrics", app=metrics))
    return GatewayMiddleware(app, settings, engine=engine)


class _AsgiEndpoint:
    """An ASGI app as a route's endpoint (Starlette calls a non-function endpoint as ASGI)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)
