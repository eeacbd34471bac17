"""The admin app's guard: no admin route on the public app, unauthenticated and cross-site requests refused,
bad input answered with the field and the fix, every change in the audit log, exceptions honoured at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import yaml

from gateway.admin.app import build_admin_app
from gateway.demo.app import DEMO_CONFIG, build_demo_app, live_settings
from gateway.demo.authserver import issue_token
from gateway.demo.keys import DemoKeys
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.frontdoors.middleware import GatewayMiddleware
from gateway.settings import settings_from_dict

SECRET = "admin-secret-for-tests"
BASE = "http://127.0.0.1:9001"
PACK = """
pack: admin-security-test
description: one sticky rule
rules:
  - id: likes-from-datacenter
    description: likes from a hosting network
    on: [like]
    when: net.class == "hosting"
    action: block
    sticky: {scope: account, for: 1h}
"""


def _settings(tmp_path: Path, keys: DemoKeys | None = None):
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK)
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(log={"sink": None}, reload=False, rules=[str(pack)], model=None,
                admin={"secret": SECRET, "audit_log": str(tmp_path / "audit.jsonl")})
    s = settings_from_dict(data, source=str(DEMO_CONFIG))
    return live_settings(s, keys) if keys else s


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def _like(token: str, ip: str, ts: float, media: str = "m1") -> RequestFacts:
    return RequestFacts(ts=ts, method="POST", path=f"/v1/media/{media}/like", peer="127.0.0.1", action="like",
                        target=media, headers={"authorization": f"Bearer {token}", "x-forwarded-for": ip,
                                               "user-agent": "Engage/412.0.1 (Android 14; Pixel 8; en_US)",
                                               "x-device-id": "phone-1"})


async def test_no_admin_route_on_the_public_app(tmp_path: Path) -> None:
    keys = DemoKeys()
    public = GatewayMiddleware(build_demo_app(None, keys), engine=Engine(_settings(tmp_path, keys)))
    async with _client(public) as c:
        for path in ("/api/decisions/recent", "/api/whoami", "/login", "/whatif", "/api/sticky?account=a"):
            r = await c.get(path, headers={"authorization": f"Bearer {SECRET}"})
            assert r.status_code == 404, path
        r = await c.post("/api/sticky/lift", json={"account": "a", "reason": "x"},
                         headers={"authorization": f"Bearer {SECRET}"})
        assert r.status_code in (404, 405)


async def test_unauthenticated_and_cross_site_requests_are_refused(tmp_path: Path) -> None:
    engine = Engine(_settings(tmp_path), decision_log=False, metrics=False)
    await engine.start()  # the issuer's keys
    async with _client(build_admin_app(engine)) as c:
        for path in ("/api/decisions/recent", "/api/exceptions", "/api/rules", "/api/decisions/x"):
            assert (await c.get(path)).status_code == 401, path
            assert (await c.get(path, headers={"authorization": "Bearer wrong"})).status_code == 401
            assert (await c.get(path, headers={"authorization": "Basic abc"})).status_code == 401
        page = await c.get("/")
        assert page.status_code == 303 and page.headers["location"].endswith("/login")
        r = await c.post("/api/sticky/lift", json={"account": "a", "reason": "x"})
        assert r.status_code == 401
        # a token from the issuer without the admin scope is refused; with it, accepted
        plain = issue_token("ops-ann", client_id="engage-android", device_id=None)
        scoped = issue_token("ops-ann", client_id="engage-android", device_id=None, scope="openid gateway:admin")
        assert (await c.get("/api/whoami", headers={"authorization": f"Bearer {plain}"})).status_code == 403
        who = await c.get("/api/whoami", headers={"authorization": f"Bearer {scoped}"})
        assert who.status_code == 200 and who.json() == {"who": "ops-ann", "via": "token"}
        # another site's page posting here, even with a valid credential: refused before any route
        for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
            r = await c.post("/api/sticky/lift", json={"account": "a", "reason": "x"},
                             headers={"authorization": f"Bearer {SECRET}", **headers})
            assert r.status_code == 403 and "cross-site" in r.text
            r = await c.post("/login", data={"token": SECRET}, headers=headers)
            assert r.status_code == 403
        # a console session: a form without its CSRF token is refused
        signed = await c.post("/login", data={"token": SECRET}, headers={"origin": BASE})
        assert signed.status_code == 303 and "httponly" in signed.headers["set-cookie"].lower()
        assert "samesite=strict" in signed.headers["set-cookie"].lower()
        r = await c.post("/lift", data={"account": "maria", "reason": "x"}, headers={"origin": BASE})
        assert r.status_code == 403 and "CSRF" in r.text
        r = await c.post("/api/sticky/lift", json={"account": "maria", "reason": "x"}, headers={"origin": BASE})
        assert r.status_code == 403
        # every response carries the strict policy
        csp = (await c.get("/login")).headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


async def test_bad_input_names_the_field_and_the_fix(tmp_path: Path) -> None:
    engine = Engine(_settings(tmp_path), decision_log=False, metrics=False)
    auth = {"authorization": f"Bearer {SECRET}"}
    async with _client(build_admin_app(engine)) as c:
        cases = [
            ("POST", "/api/sticky/lift", b"{not json", "body"),
            ("POST", "/api/sticky/lift", json.dumps([1]).encode(), "body"),
            ("POST", "/api/sticky/lift", json.dumps({"account": "maria"}).encode(), "reason"),
            ("POST", "/api/sticky/lift", json.dumps({"reason": "why"}).encode(), "account"),
            ("POST", "/api/exceptions", json.dumps({"scope": "planet", "key": "x", "reason": "r"}).encode(), "scope"),
            ("POST", "/api/exceptions", json.dumps({"scope": "prefix", "key": "10.0.0.0/8", "for_s": 60,
                                                    "reason": "r"}).encode(), "key"),
            ("POST", "/api/exceptions", json.dumps({"scope": "account", "key": "u", "for_s": 9e9,
                                                    "reason": "r"}).encode(), "until"),
            ("POST", "/api/exceptions", json.dumps({"scope": "account", "key": "u", "for_s": "soon",
                                                    "reason": "r"}).encode(), "until"),
            ("POST", "/api/exceptions/remove", json.dumps({"id": "x-none", "reason": "r"}).encode(), "id"),
            ("GET", "/api/decisions?limit=lots&account=u", b"", "limit"),
            ("GET", "/api/decisions", b"", "query"),
            ("POST", "/api/whatif", json.dumps({"yaml": 7}).encode(), "yaml"),
        ]
        for method, path, body, field in cases:
            r = await c.request(method, path, content=body, headers=auth)
            assert r.status_code == 400, (path, r.text)
            assert r.json()["field"] == field and r.json()["detail"], (path, r.text)
        r = await c.post("/api/whatif", json={"yaml": "pack: x\nrules:\n  - id: a\n    when: nope(\n"}, headers=auth)
        assert r.status_code == 422
        assert all(e["file"] == "candidate.yaml" and e["line"] >= 1 for e in r.json()["errors"])


async def test_exception_lift_and_audit_with_two_engines_on_one_state(tmp_path: Path) -> None:
    """An account stopped and pinned is lifted; then an exception lets it through from the datacenter too."""
    settings = _settings(tmp_path)
    serving = Engine(settings)  # records what the admin app reads (memory: the same process)
    await serving.start()
    auth = {"authorization": f"Bearer {SECRET}"}
    t0 = time.time()
    token = issue_token("maria", client_id="engage-android", device_id="phone-1", now=t0)
    try:
        assert not (await serving.decide(_like(token, "21.0.0.10", t0))).passes
        assert not (await serving.decide(_like(token, "11.1.0.20", t0 + 1, "m2"))).passes  # sticky on the account
        await serving.recorder.flush()
        async with _client(build_admin_app(serving)) as c:
            found = (await c.get("/api/decisions", params={"account": "maria"}, headers=auth)).json()["decisions"]
            assert [d["decision"] for d in found] == ["block", "block"] and found[1]["rules"] == ["likes-from-datacenter"]
            assert found[1]["matched_features"]["net.class"] == "hosting"
            one = await c.get(f"/api/decisions/{found[1]['decision_id']}", headers=auth)
            assert one.json()["subject"] == "maria"
            sticky = (await c.get("/api/sticky", params={"account": "maria"}, headers=auth)).json()["sticky"]
            assert [(n["key"], n["decision"]) for n in sticky] == [("a:maria", "block")]
            rules = (await c.get("/api/rules", headers=auth)).json()["rules"]
            assert rules["likes-from-datacenter"]["enforce_hit_1h"] == 1
            lifted = await c.post("/api/sticky/lift", json={"account": "maria", "reason": "ticket 1"}, headers=auth)
            assert lifted.json()["lifted"] == ["a:maria"]
            assert (await serving.decide(_like(token, "11.1.0.20", t0 + 2, "m3"))).passes
            assert not (await serving.decide(_like(token, "21.0.0.10", t0 + 3, "m4"))).passes  # the rule still holds
            # a sticky decision reaches the state with its replica's next exchange (here: someone else's like)
            other = issue_token("olivia", client_id="engage-android", device_id="phone-9", now=t0)
            assert (await serving.decide(_like(other, "11.1.0.21", t0 + 3.5, "m9"))).passes
            x = await c.post("/api/exceptions", json={"scope": "account", "key": "maria", "for_s": 600,
                                                      "reason": "travelling, ticket 2"}, headers=auth)
            assert x.status_code == 201
            assert (await serving.decide(_like(token, "21.0.0.10", t0 + 4, "m5"))).passes  # excepted
            listed = (await c.get("/api/exceptions", headers=auth)).json()["exceptions"]
            assert [e["key"] for e in listed] == ["maria"]
            removed = await c.post("/api/exceptions/remove", json={"id": x.json()["id"], "reason": "back home"},
                                   headers=auth)
            assert removed.status_code == 200
            assert not (await serving.decide(_like(token, "21.0.0.10", t0 + 5, "m6"))).passes
    finally:
        await serving.close()
    audit = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [a["action"] for a in audit] == ["lift", "exception.grant", "exception.revoke"]
    assert all(a["who"] == "secret" and a["reason"] and a["ts"] for a in audit)


def test_the_ring_keeps_no_token(tmp_path: Path) -> None:
    from gateway.admin.recorder import facts_dict
    from gateway.auth.principal import Principal

    facts = RequestFacts(ts=1.0, method="POST", path="/v1/media/m/like", peer="127.0.0.1",
                         headers={"authorization": "Bearer secret.token.here", "dpop": "proof", "cookie": "c=1",
                                  "user-agent": "ua"})
    p = Principal("u", "s", "c", None, None, None, "jwt", "hash", {"sub": "u"})
    kept = json.dumps(facts_dict(facts, p))
    assert "secret.token.here" not in kept and "proof" not in kept and "c=1" not in kept and '"ua"' in kept
