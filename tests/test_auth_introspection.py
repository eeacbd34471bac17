"""RFC 7662 introspection against a real HTTP server: active, inactive, down, and the cache."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from urllib.parse import parse_qs

import pytest
from conftest import SlowOrHuge
from frontdoor_support import answer_to_a_like
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth import Authenticator, AuthError
from gateway.facts import RequestFacts
from gateway.metrics import AUTH_FAILURES
from gateway.settings import settings_from_dict
from gateway.testing import TokenMinter

NOW = 1_700_000_000.0
CLIENT_ID, CLIENT_SECRET = "gateway", "s3cret:with/odd chars"


def facts(token: str, ts: float = NOW) -> RequestFacts:
    return RequestFacts(ts=ts, method="POST", path="/", peer="127.0.0.1", headers={"authorization": f"Bearer {token}"})


class AuthorizationServer:
    """A real introspection endpoint: known tokens, client authentication, a request log."""

    def __init__(self) -> None:
        self.tokens: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.status = 200
        self.app = Starlette(routes=[Route("/introspect", self.introspect, methods=["POST"])])

    async def introspect(self, request):
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.requests.append({"form": form, "authorization": request.headers.get("authorization")})
        expected = "Basic " + base64.b64encode(b"gateway:s3cret%3Awith%2Fodd+chars").decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if self.status != 200:
            return Response("down for maintenance", status_code=self.status)
        return JSONResponse(self.tokens.get(form.get("token"), {"active": False}))


def settings_for(url: str, **auth):
    return settings_from_dict({"auth": {
        "issuer": "https://as.test", "audience": "api",
        "introspection": {"url": url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                          "timeout_s": 2.0, "cache_ttl_s": 60},
        **auth,
    }})


@pytest.fixture
def server():
    return AuthorizationServer()


@pytest.fixture
async def auth(serve, server):
    with serve(server.app) as base:
        authenticator = Authenticator(settings_for(f"{base}/introspect"))
        await authenticator.start()
        yield authenticator
        await authenticator.close()


async def test_active_token(auth, server):
    server.tokens["opaque-1"] = {
        "active": True, "sub": "alice", "client_id": "partner-scheduler", "sid": "s-7",
        "iss": "https://as.test", "aud": "api", "exp": NOW + 600, "iat": NOW - 5, "token_type": "access_token",
    }
    p = await auth.authenticate(facts("opaque-1"))
    assert (p.subject, p.client_id, p.session_id, p.kind) == ("alice", "partner-scheduler", "s-7", "opaque")
    assert p.token_hash == hashlib.sha256(b"opaque-1").hexdigest()
    assert server.requests[0]["form"] == {"token": "opaque-1", "token_type_hint": "access_token"}


async def test_answers_are_cached_until_ttl_or_exp(auth, server):
    server.tokens["opaque-2"] = {"active": True, "sub": "bob", "exp": NOW + 30}
    for ts in (NOW, NOW + 10, NOW + 29):
        assert (await auth.authenticate(facts("opaque-2", ts))).subject == "bob"
    assert len(server.requests) == 1
    # past exp the cache no longer serves it, and the (stale) server answer is judged on the request clock
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts("opaque-2", NOW + 31 + 30))
    assert info.value.reason == "expired"
    assert len(server.requests) == 2


async def test_cache_ttl_bounds_a_long_lived_token(auth, server):
    server.tokens["opaque-3"] = {"active": True, "sub": "carol", "exp": NOW + 86400}
    await auth.authenticate(facts("opaque-3"))
    await auth.authenticate(facts("opaque-3", NOW + 59))
    assert len(server.requests) == 1
    server.tokens["opaque-3"] = {"active": False}  # revoked
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts("opaque-3", NOW + 61))
    assert info.value.reason == "inactive"


async def test_inactive_token(auth, server):
    before = AUTH_FAILURES.labels("inactive")._value.get()
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts("never-issued"))
    assert (info.value.reason, info.value.error) == ("inactive", "invalid_token")
    with pytest.raises(AuthError):
        await auth.authenticate(facts("never-issued", NOW + 1))
    assert len(server.requests) == 1  # the refusal is remembered briefly
    assert AUTH_FAILURES.labels("inactive")._value.get() == before + 2


async def test_wrong_audience_from_introspection(auth, server):
    server.tokens["opaque-4"] = {"active": True, "sub": "dave", "aud": ["other"], "exp": NOW + 60}
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts("opaque-4"))
    assert info.value.reason == "audience"


async def test_server_error_is_a_401_reason(auth, server):
    server.status = 503
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts("opaque-5"))
    assert info.value.reason == "introspection_unavailable" and "HTTP 503" in info.value.description


async def test_server_down_is_an_auth_error_not_an_exception(serve, server):
    with serve(server.app) as base:
        url = f"{base}/introspect"
    auth = Authenticator(settings_for(url))
    await auth.start()
    try:
        before = AUTH_FAILURES.labels("introspection_unavailable")._value.get()
        with pytest.raises(AuthError) as info:
            await auth.authenticate(facts("opaque-6"))
        assert info.value.reason == "introspection_unavailable"
        assert "did not answer" in info.value.description
        assert AUTH_FAILURES.labels("introspection_unavailable")._value.get() == before + 1
        r = await answer_to_a_like(settings_for(url), {"authorization": "Bearer opaque-6"}, now=NOW)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith(
            'Bearer realm="gateway", error="invalid_token", error_description="the token could not be checked')
    finally:
        await auth.close()


async def test_jwts_stay_local_when_a_jwks_is_configured(serve, server, tmp_path):
    minter = TokenMinter(issuer="https://as.test", audience="api")
    path = minter.write_jwks(tmp_path / "jwks.json")
    server.tokens["opaque-7"] = {"active": True, "sub": "erin"}
    with serve(server.app) as base:
        auth = Authenticator(settings_for(f"{base}/introspect", jwks_file=str(path)))
        await auth.start()
        try:
            assert (await auth.authenticate(facts(minter.mint("frank", issued_at=NOW)))).kind == "jwt"
            assert (await auth.authenticate(facts("opaque-7"))).kind == "opaque"
            assert [r["form"]["token"] for r in server.requests] == ["opaque-7"]
        finally:
            await auth.close()


async def test_an_answer_dribbled_or_huge_is_unavailable_within_the_timeout(serve):
    """httpx's timeout bounds each read: a server sending a byte at a time once held a request for good."""
    with serve(SlowOrHuge(b'{"active": true, "sub": "alice"}')) as base:
        for path in ("/drip", "/huge"):
            settings = settings_for(f"{base}{path}")
            auth = Authenticator(dataclasses.replace(settings, auth=dataclasses.replace(
                settings.auth, introspection=dataclasses.replace(settings.auth.introspection, timeout_s=0.5))))
            await auth.start()
            try:
                started = time.monotonic()
                with pytest.raises(AuthError) as info:
                    await auth.authenticate(facts("opaque-x"))
                assert info.value.reason == "introspection_unavailable" and time.monotonic() - started < 1.5
            finally:
                await auth.close()
