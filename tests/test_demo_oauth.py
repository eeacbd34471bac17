"""The demo's authorization server (authlib) end to end: real HTTP through uvicorn, the gateway in front."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from gateway.demo.app import DEMO_CONFIG, build_protected_demo, issue_token
from gateway.settings import load_settings
from gateway.testing import DPoPKey, MockClient, app_profiles

ANDROID_UA = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"
ANALYTICS_REDIRECT = "https://analytics.partner.example/oauth/callback"
RULES = """
rules:
  - id: out-of-scope
    description: a partner app's token used beyond its scopes
    on: [like, comment, follow]
    when: app.out_of_scope
    action: block
  - id: never-born
    description: a session the token endpoint never issued
    on: [like]
    when: "session.known == false && account.id == 'nobody'"
    action: block
"""


def demo(tmp_path, rules: bool = True):
    s = load_settings(DEMO_CONFIG)
    s = dataclasses.replace(s, reload=False, log=dataclasses.replace(s.log, sink=None))
    if rules:
        (tmp_path / "scopes.yaml").write_text(RULES)
        s = dataclasses.replace(s, rules=(str(tmp_path / "scopes.yaml"),))
    return build_protected_demo(settings=s)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"v" * 40).rstrip(b"=").decode()
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def test_a_partner_app_gets_in_by_the_code_flow_with_its_narrower_scope(serve, tmp_path) -> None:
    with serve(demo(tmp_path)) as url:
        async with MockClient.for_app("partner-analytics", base_url=url, ip="11.1.0.30") as analytics, \
                MockClient.for_app("partner-scheduler", base_url=url, ip="11.1.0.31") as scheduler:
            await analytics.authorize("bob")
            assert claims(analytics.token)["scope"] == "read" and claims(analytics.token)["client_id"] == "partner-analytics"
            assert analytics.refresh_token
            refused = await analytics.like("m1")  # a read-only partner liking: the rule reads app.out_of_scope
            assert refused.status_code == 403  # the only pack here is RULES
            await scheduler.authorize("carol", scope="read engage")
            assert claims(scheduler.token)["scope"] == "read engage"
            assert (await scheduler.like("m1")).status_code == 200
            with pytest.raises(httpx.HTTPStatusError) as info:  # the password is not a partner's way in
                await scheduler.login("carol")
            assert info.value.response.status_code == 400
            assert info.value.response.json()["error"] == "unauthorized_client"


def test_the_code_flow_insists_on_pkce_s256_and_the_registered_redirect(serve, tmp_path) -> None:
    verifier, challenge = pkce()
    base = {"response_type": "code", "client_id": "partner-analytics", "state": "s1", "user": "bob"}
    with serve(demo(tmp_path, rules=False)) as url, httpx.Client(base_url=url) as c:
        def authorize(**params: str) -> httpx.Response:
            return c.get("/oauth/authorize", params={**base, **params})

        no_pkce = authorize()
        assert no_pkce.status_code == 302 and "error=invalid_request" in no_pkce.headers["location"]
        plain = authorize(code_challenge=verifier, code_challenge_method="plain")
        assert "error=invalid_request" in plain.headers["location"]
        wider = authorize(code_challenge=challenge, code_challenge_method="S256", scope="read engage")
        assert "error=invalid_scope" in wider.headers["location"]
        elsewhere = authorize(code_challenge=challenge, code_challenge_method="S256", redirect_uri="https://evil.example/cb")
        assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_request"
        unknown = authorize(client_id="nobody-app", code_challenge=challenge, code_challenge_method="S256")
        assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"
        consent = c.get("/oauth/authorize", params={k: v for k, v in base.items() if k != "user"} |
                        {"code_challenge": challenge, "code_challenge_method": "S256"})
        assert consent.status_code == 200 and "DEMO ONLY" in consent.text

        good = authorize(code_challenge=challenge, code_challenge_method="S256")
        assert good.status_code == 302 and good.headers["location"].startswith(ANALYTICS_REDIRECT)
        code = parse_qs(urlsplit(good.headers["location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "client_id": "partner-analytics"}
        wrong = c.post("/oauth/token", data={**form, "code_verifier": "w" * 50})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        missing = c.post("/oauth/token", data=form)
        assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
        issued = c.post("/oauth/token", data={**form, "code_verifier": verifier})
        assert issued.status_code == 200, issued.text
        assert issued.json()["token_type"] == "Bearer" and issued.json()["scope"] == "read"
        assert issued.headers["cache-control"] == "no-store"
        again = c.post("/oauth/token", data={**form, "code_verifier": verifier})  # a code is good once
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_first_party_password_login_is_a_session_the_gateway_saw_born(serve, tmp_path) -> None:
    with serve(demo(tmp_path)) as url:
        async with MockClient(base_url=url, ip="11.1.0.20", device_id="phone-1") as nobody:
            await nobody.login("nobody")
            token = claims(nobody.token)
            assert "engage" in token["scope"].split() and token["did"] == "phone-1" and token["client_id"] == "engage-android"
            assert {"iss", "aud", "sub", "sid", "iat", "exp", "jti"} <= set(token)
            assert (await nobody.like("m1")).status_code == 200  # its birth was observed
            nobody.token = issue_token("nobody", client_id="engage-android", device_id="phone-1")
            assert (await nobody.like("m2")).status_code == 403  # a token never seen at the token endpoint


async def test_a_refresh_rotates_and_a_spent_refresh_token_is_refused(serve, tmp_path) -> None:
    with serve(demo(tmp_path, rules=False)) as url:
        async with MockClient(base_url=url, ip="11.1.0.20") as alice, httpx.AsyncClient(base_url=url) as raw:
            await alice.login("alice")
            first_access, first_refresh = alice.token, alice.refresh_token
            await alice.refresh()
            assert alice.refresh_token != first_refresh and alice.token != first_access
            assert claims(alice.token)["sid"] == claims(first_access)["sid"]  # the same session goes on
            assert (await alice.like("m1")).status_code == 200
            replayed = await raw.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first_refresh,
                                                             "client_id": "engage-android"})
            assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
            with pytest.raises(httpx.HTTPStatusError):  # the replay revoked the session's newer refresh token too
                await alice.refresh()


async def test_a_dpop_bound_token_needs_its_proof_at_the_gateway(serve, tmp_path) -> None:
    key = DPoPKey()
    with serve(demo(tmp_path, rules=False)) as url:
        async with MockClient(base_url=url, ip="11.1.0.20", dpop=key) as dana:
            await dana.login("dana")
            assert dana.token_type == "DPoP" and claims(dana.token)["cnf"] == {"jkt": key.thumbprint}
            assert (await dana.like("m1")).status_code == 200
            bare = await dana.request("POST", "/v1/media/m2/like", headers={"dpop": ""})
            assert bare.status_code == 401 and "invalid_dpop_proof" in bare.headers["www-authenticate"]
            await dana.refresh()  # the refresh token is bound to the same key
            assert claims(dana.token)["cnf"] == {"jkt": key.thumbprint}
            assert (await dana.like("m3")).status_code == 200
            dana.dpop = DPoPKey()  # another key cannot refresh it
            with pytest.raises(httpx.HTTPStatusError) as info:
                await dana.refresh()
            assert info.value.response.json()["error"] == "invalid_dpop_proof"
        async with httpx.AsyncClient(base_url=url) as raw:
            stale = key.proof("POST", url + "/oauth/token", iat=time.time() - 3600)
            answer = await raw.post("/oauth/token", headers={"dpop": stale}, data={
                "grant_type": "password", "username": "dana", "password": "demo", "client_id": "engage-android"})
            assert answer.status_code == 400 and answer.json()["error"] == "invalid_dpop_proof"


async def test_a_key_rotation_is_picked_up_by_the_gateway(serve, tmp_path) -> None:
    app = demo(tmp_path, rules=False)
    with serve(app) as url:
        async with MockClient(base_url=url, ip="11.1.0.20") as erin, httpx.AsyncClient(base_url=url) as raw:
            await erin.login("erin")
            old = erin.token
            assert jwt.get_unverified_header(old)["kid"] == "demo-1"
            published = (await raw.get("/.well-known/jwks.json")).json()["keys"]
            assert [k["kid"] for k in published][0] == "demo-1" and len(published) == 2  # current + next
            rotated = (await raw.post("/admin/keys/rotate")).json()
            assert rotated["current"] == published[1]["kid"] and rotated["retired"] == "demo-1"
            await erin.login("erin")  # signed with the key published ahead: verified at once
            assert jwt.get_unverified_header(erin.token)["kid"] == rotated["current"]
            assert (await erin.like("m1")).status_code == 200
            twice = (await raw.post("/admin/keys/rotate")).json()  # demo-1 is withdrawn now
            await erin.login("erin")
            assert jwt.get_unverified_header(erin.token)["kid"] == twice["current"]
            deadline = time.monotonic() + 10
            erin_new = erin.token
            while True:  # the gateway's refresher reads the new key set within its poll
                erin.token = erin_new
                fresh = (await erin.like("m2")).status_code
                erin.token = old
                withdrawn = (await erin.like("m3")).status_code
                if (fresh, withdrawn) == (200, 401) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert (fresh, withdrawn) == (200, 401)
        forwarded = httpx.post(url + "/admin/keys/rotate", headers={"x-forwarded-for": "203.0.113.9"})
        assert forwarded.status_code == 403


@pytest.mark.parametrize("form, status, error", [
    ({}, 400, "invalid_request"),
    ({"grant_type": "magic"}, 400, "unsupported_grant_type"),
    ({"grant_type": "password", "username": "alice", "password": "demo"}, 401, "invalid_client"),
    ({"grant_type": "password", "username": "alice", "password": "demo", "client_id": "nobody-app"}, 401, "invalid_client"),
    ({"grant_type": "password", "username": "alice", "client_id": "engage-android"}, 400, "invalid_request"),
    ({"grant_type": "password", "username": "alice", "password": "nope", "client_id": "engage-android"}, 400, "invalid_grant"),
    ({"grant_type": "password", "username": "al ice", "password": "demo", "client_id": "engage-android"}, 400, "invalid_grant"),
    ({"grant_type": "password", "username": "alice", "password": "demo", "client_id": "engage-android",
      "scope": "admin"}, 400, "invalid_scope"),
    ({"grant_type": "password", "username": "alice", "password": "demo", "client_id": "partner-analytics"},
     400, "unauthorized_client"),
    ({"grant_type": "password", "username": "alice", "password": "demo", "client_id": "engage-android",
      "device_id": "a b"}, 400, "invalid_request"),
    ({"grant_type": "refresh_token", "client_id": "engage-android"}, 400, "invalid_request"),
    ({"grant_type": "refresh_token", "refresh_token": "nope", "client_id": "engage-android"}, 400, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "nope", "client_id": "engage-android",
      "code_verifier": "v" * 43}, 400, "invalid_grant"),
])
def test_bad_token_requests_are_oauth_errors(serve, tmp_path, form, status, error) -> None:
    with serve(demo(tmp_path, rules=False)) as url:
        r = httpx.post(url + "/oauth/token", data=form, headers={"user-agent": ANDROID_UA})
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    assert r.headers["cache-control"] == "no-store"


def test_malformed_token_requests_are_invalid_request_never_500(serve, tmp_path) -> None:
    bodies = [
        ("application/json", b'{"grant_type": "password"}'),
        ("application/x-www-form-urlencoded", b"grant_type=password&grant_type=password&username=a&password=demo"),
        ("application/x-www-form-urlencoded", b"\xff\xfe" * 10),
        ("application/x-www-form-urlencoded", b"a=1&" * 100),
        ("application/x-www-form-urlencoded", b"x" * 9000),
        ("application/x-www-form-urlencoded", b"grant_type=password&username=%00&password=demo&client_id=%ff"),
    ]
    with serve(demo(tmp_path, rules=False)) as url, httpx.Client(base_url=url) as c:
        for kind, body in bodies:
            r = c.post("/oauth/token", content=body, headers={"content-type": kind})
            assert r.status_code in (400, 401) and r.json()["error"].startswith("invalid_"), (body[:40], r.text)
        proof = c.post("/oauth/token", headers={"dpop": "not-a-proof"}, data={"grant_type": "password"})
        assert proof.status_code == 400 and proof.json()["error"] == "invalid_dpop_proof"
        assert c.get("/oauth/authorize", params={"response_type": "token", "client_id": "x"}).status_code == 400
        meta = c.get("/.well-known/oauth-authorization-server").json()
        assert meta["code_challenge_methods_supported"] == ["S256"] and "engage" in meta["scopes_supported"]


def test_mock_clients_and_tokens_follow_the_app_description() -> None:
    profiles = app_profiles(load_settings(DEMO_CONFIG))
    assert profiles["partner-analytics"].kind == "third_party" and profiles["partner-analytics"].scopes == ("read",)
    android = MockClient.for_app("engage-android", base_url="http://gateway.test")
    assert android.user_agent == ANDROID_UA and android.tls == profiles["engage-android"].tls
    from gateway.testing import demo_minter

    token = demo_minter().mint("bob", app=profiles["partner-analytics"], device_id="d1")
    assert claims(token)["client_id"] == "partner-analytics" and claims(token)["scope"] == "read"
