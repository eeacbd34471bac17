"""The gateway end to end: the demo API behind it, real tokens, real HTTP through uvicorn."""

from __future__ import annotations

import dataclasses
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from frontdoor_support import BLOCK_HOSTING, HOME_IP, HOSTING_IP, app_headers, demo_settings, login

from gateway.demo.app import build_protected_demo, demo_signing_key, issue_token
from gateway.engine import Engine


def make_settings(tmp_path, *, rules_text: str | None = None, **changes):
    """The demo settings, with the decision log in ``tmp_path`` for the test to read."""
    log = tmp_path / "decisions.jsonl"
    return demo_settings(tmp_path, rules_text, log_sink=str(log), **changes), log


def read_log(path) -> list[dict]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            break
        time.sleep(0.05)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def counted(action: str, decision: str) -> float:
    from gateway.metrics import REGISTRY

    labels = {"action": action, "decision": decision, "enforced": "true"}
    return REGISTRY.get_sample_value("gateway_requests_total", labels) or 0.0


def test_benign_like_passes_and_every_decision_is_logged_and_counted(tmp_path, serve):
    settings, log = make_settings(tmp_path)
    before = counted("like", "allow")
    with serve(build_protected_demo(settings=settings)) as url, httpx.Client(base_url=url) as c:
        token = login(c)
        r = c.post("/v1/media/m1/like", headers=app_headers(token))
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert c.get("/v1/feed").status_code == 200  # unprotected: straight through
        assert c.post("/v1/media/m1/like").status_code == 401
        metrics = c.get("/metrics").text  # the path `gateway serve` prints, no redirect
        assert c.get("/metrics/").text.count("gateway_requests_total") == metrics.count("gateway_requests_total")
    assert 'gateway_requests_total{action="like",decision="allow",enforced="true"}' in metrics
    assert counted("like", "allow") == before + 1
    assert 'gateway_auth_failures_total{reason="missing"}' in metrics
    entries = read_log(log)
    assert [e["decision"] for e in entries] == ["allow", "unauthenticated"]
    first = entries[0]
    assert first["subject"] == "alice" and first["ip"] == HOME_IP and first["net_class"] == "residential"
    assert first["action"] == "like" and first["target"] == "m1" and first["decision_id"]


@pytest.mark.parametrize("kind", ["missing", "forged", "expired", "alg-none", "garbage"])
def test_bad_tokens_get_401_with_rfc6750_header(tmp_path, serve, kind):
    settings, _ = make_settings(tmp_path)
    now = time.time()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    token = {
        "missing": None,
        "forged": issue_token("alice", client_id="engage-android", device_id="dev-1", key=other_key),
        "expired": issue_token("alice", client_id="engage-android", device_id="dev-1", now=now - 7200),
        "alg-none": jwt.encode({"sub": "alice", "iss": "https://demo.gateway.local", "aud": "engagement-api",
                                "exp": int(now) + 600}, None, algorithm="none", headers={"kid": "demo-1"}),
        "garbage": "not-a-token!",
    }[kind]
    with serve(build_protected_demo(settings=settings)) as url:
        r = httpx.post(f"{url}/v1/media/m1/like", headers=app_headers(token))
    assert r.status_code == 401
    www = r.headers["www-authenticate"]
    assert www.startswith('Bearer realm="gateway"')
    if kind == "missing":
        assert "error=" not in www.split("DPoP")[0]
    else:
        assert 'error="invalid_token"' in www  # RFC 6750 3.1: expired, malformed or invalid, all invalid_token


def test_policy_block_is_problem_json_403_with_decision_id(tmp_path, serve):
    settings, log = make_settings(tmp_path, rules_text=BLOCK_HOSTING)
    with serve(build_protected_demo(settings=settings)) as url, httpx.Client(base_url=url) as c:
        token = login(c)
        r = c.post("/v1/media/m1/like", headers=app_headers(token, ip=HOSTING_IP))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 403 and body["decision_id"] == r.headers["x-gateway-decision-id"]
    assert "hosting" not in r.text  # no rule internals
    entry = [e for e in read_log(log) if e["decision_id"] == body["decision_id"]][0]
    assert entry["decision"] == "block" and entry["rules"] == ["test-hosting-block"] and entry["enforced"]


def test_a_rule_hit_is_counted_once(tmp_path, serve):
    from gateway.metrics import REGISTRY

    labels = {"rule": "test-hosting-block", "mode": "enforce"}
    before = REGISTRY.get_sample_value("gateway_rule_hits_total", labels) or 0.0
    settings, _ = make_settings(tmp_path, rules_text=BLOCK_HOSTING)
    with serve(build_protected_demo(settings=settings)) as url, httpx.Client(base_url=url) as c:
        token = login(c)
        assert c.post("/v1/media/m1/like", headers=app_headers(token, ip=HOSTING_IP)).status_code == 403
    assert REGISTRY.get_sample_value("gateway_rule_hits_total", labels) == before + 1


def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored(tmp_path, serve):
    base, _ = make_settings(tmp_path)
    network = dataclasses.replace(base.network, trusted_proxies=("10.0.0.0/8",))
    settings, log = make_settings(tmp_path, rules_text=BLOCK_HOSTING, network=network)
    with serve(build_protected_demo(settings=settings)) as url, httpx.Client(base_url=url) as c:
        token = login(c)
        r = c.post("/v1/media/m1/like", headers=app_headers(token, ip=HOSTING_IP))
    assert r.status_code == 200
    assert read_log(log)[-1]["ip"] == "127.0.0.1"


def test_shadow_mode_logs_the_block_without_enforcing(tmp_path, serve):
    settings, log = make_settings(tmp_path, rules_text=BLOCK_HOSTING, mode="shadow")
    with serve(build_protected_demo(settings=settings)) as url, httpx.Client(base_url=url) as c:
        token = login(c)
        r = c.post("/v1/media/m1/like", headers=app_headers(token, ip=HOSTING_IP))
    assert r.status_code == 200
    entry = read_log(log)[-1]
    assert entry["decision"] == "block" and entry["enforced"] is False


async def test_engine_decides_on_the_clock_it_is_given(tmp_path):
    """Replay runs old traffic: a token valid at the record's time passes, whatever the wall clock says."""
    from gateway.facts import RequestFacts

    settings, _ = make_settings(tmp_path)
    settings = dataclasses.replace(settings, log=dataclasses.replace(settings.log, sink=None))
    engine = Engine(settings)
    await engine.start()
    past = time.time() - 30 * 86400
    token = issue_token("bob", client_id="engage-ios", device_id="d", now=past, key=demo_signing_key())
    facts = RequestFacts(ts=past + 60, method="POST", path="/v1/media/m/like", peer="127.0.0.1",
                         headers=app_headers(token), action="like", target="m")
    verdict = await engine.decide(facts)
    assert verdict.decision.value == "allow", verdict.explain
    late = dataclasses.replace(facts, ts=past + 86400)
    assert (await engine.decide(late)).decision.value == "unauthenticated"
    await engine.close()


async def test_a_gateway_that_cannot_start_answers_503_not_500(tmp_path):
    """The JWKS is missing when the first request starts the engine: a clear 503, and the app's other routes still work."""
    settings, _ = make_settings(tmp_path)
    settings = dataclasses.replace(settings, auth=dataclasses.replace(settings.auth, jwks_file=str(tmp_path / "gone.json")))
    app = build_protected_demo(settings=settings)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        r = await c.post("/v1/media/m1/like", headers=app_headers("x.y.z"))
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.headers["content-type"] == "application/problem+json"
        assert (await c.get("/v1/feed")).status_code == 200
