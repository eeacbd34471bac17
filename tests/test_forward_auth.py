"""The forward-auth service with each proxy's header style, in process (real engine, real tokens)."""

from __future__ import annotations

import json

import httpx
import pytest
from frontdoor_support import APP_UA, HOME_IP, HOSTING_IP, alice_token, app_headers, quiet_engine

from gateway.engine import Engine
from gateway.frontdoors.forward_auth import build_authz_app
from gateway.settings import ConfigError, ForwardAuth

SECRET = "s3cret-for-tests"


def pack(action: str, when: str = 'net.class == "hosting"', extra: str = "") -> str:
    return f"""
pack: test-forward-auth
rules:
  - id: test-rule
    description: the one rule this test needs
    on: ["*"]
    when: {json.dumps(when)}
    action: {action}
{extra}"""


def make_engine(tmp_path, rules: str, **forward_auth) -> Engine:
    return quiet_engine(tmp_path, rules, model=None,
                        forward_auth=ForwardAuth(**{"sessions_secret": SECRET, **forward_auth}))


def client_for(engine: Engine, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_authz_app(engine), client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://authz")


def original(token: str | None, ip: str = HOME_IP, **extra: str) -> dict[str, str]:
    """The client's own headers, as the proxy copies them onto the check request."""
    return app_headers(token, ip, **extra)


def nginx(method: str, uri: str) -> dict[str, str]:
    return {"x-original-method": method, "x-original-uri": uri}


def traefik(method: str, uri: str) -> dict[str, str]:
    return {"x-forwarded-method": method, "x-forwarded-uri": uri, "x-forwarded-host": "api.example",
            "x-forwarded-proto": "https"}


@pytest.fixture
async def blocking(tmp_path):
    engine = make_engine(tmp_path, pack("block"))
    async with client_for(engine) as c:
        yield c
    await engine.close()


async def test_nginx_style_benign_request_passes_with_decision_headers(blocking):
    r = await blocking.get("/_gateway/authz", headers={**original(alice_token()), **nginx("POST", "/v1/media/m1/like")})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["x-gateway-decision"] == "allow"
    assert r.headers["x-gateway-decision-id"]
    assert float(r.headers["x-gateway-risk"]) == 0.0


async def test_nginx_style_abusive_request_is_stopped_with_the_problem_in_headers_too(blocking):
    r = await blocking.get("/_gateway/authz", headers={**original(alice_token(), HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
    assert r.status_code == 403
    body = r.json()
    assert body["status"] == 403 and body["decision_id"] == r.headers["x-gateway-decision-id"]
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-gateway-status"] == "403"
    assert json.loads(r.headers["x-gateway-body"]) == body


async def test_missing_token_is_401_with_www_authenticate(blocking):
    for style in (nginx, traefik):
        r = await blocking.get("/", headers={**original(None), **style("POST", "/v1/media/m1/like")})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('Bearer realm="gateway"')
        assert r.json()["status"] == 401


async def test_a_lower_case_method_is_checked_as_the_app_will_see_it(blocking):
    for style in (nginx, traefik):
        r = await blocking.get("/", headers={**original(None), **style("post", "/v1/media/m1/like")})
        assert r.status_code == 401


async def test_traefik_style_stops_with_the_verdicts_status_and_body(blocking):
    r = await blocking.get("/auth", headers={**original(alice_token(), HOSTING_IP), **traefik("POST", "/v1/users/u9/follow")})
    assert r.status_code == 403 and r.json()["type"] == "urn:gateway:problem:third-party-app"
    assert "x-gateway-status" not in r.headers  # Traefik relays the status itself
    ok = await blocking.get("/auth", headers={**original(alice_token()), **traefik("POST", "/v1/users/u9/follow")})
    assert ok.status_code == 200 and ok.headers["x-gateway-decision"] == "allow"


async def test_envoy_style_reads_the_check_request_itself(tmp_path):
    engine = make_engine(tmp_path, pack("block"), envoy_path_prefix="/authz")
    async with client_for(engine) as c:
        r = await c.post("/authz/v1/media/m1/like", headers=original(alice_token(), HOSTING_IP))
        assert r.status_code == 403 and r.json()["status"] == 403
        r = await c.post("/authz/v1/media/m1/like", headers=original(alice_token()))
        assert r.status_code == 200 and r.headers["x-gateway-decision"] == "allow"
        r = await c.post("/v1/media/m1/like", headers=original(alice_token()))
        assert r.status_code == 400 and "envoy_path_prefix" in r.json()["detail"]
    await engine.close()


async def test_unprotected_uris_and_the_token_endpoint_answer_200_at_once(blocking):
    for method, uri in (("GET", "/v1/feed"), ("GET", "/v1/media/m1/like"), ("POST", "/oauth/token"), ("OPTIONS", "*")):
        r = await blocking.get("/", headers={**original(None, HOSTING_IP), **nginx(method, uri)})
        assert r.status_code == 200 and "x-gateway-decision-id" not in r.headers, (method, uri)


async def test_dot_segments_and_fragments_cannot_dodge_a_protected_route(blocking):
    """The backend may route them literally (Starlette likes '..' for /v1/media/%2e%2e/like): refused, never passed."""
    for uri in ("/v1/media/%2e%2e/media/m1/like", "/v1/media/%2e%2e/like", "/v1/media/m1#/like",
                "http://api.example/v1/media/m1#/like"):
        r = await blocking.get("/", headers={**original(None), **nginx("POST", uri)})
        # nginx makes a 500 of a 400: the check answers 403 and carries the 400 for nginx to replay
        assert r.status_code == 403 and r.headers["x-gateway-status"] == "400" and "x-original-uri" in r.text, uri
        r = await blocking.get("/", headers={**original(None), **traefik("POST", uri)})
        assert r.status_code == 400 and "x-forwarded-uri" in r.text, uri


async def test_a_client_cannot_name_another_request_beside_its_proxy(blocking):
    """Traefik passes a client's X-Original-* on: the check is refused, not read as the client's GET."""
    client_added = {"x-original-method": "GET", "x-original-uri": "/v1/feed"}
    r = await blocking.get("/", headers={**original(alice_token(), HOSTING_IP), **traefik("POST", "/v1/media/m1/like"),
                                         **client_added})
    assert r.status_code == 403 and r.headers["x-gateway-status"] == "400" and "names its request twice" in r.text


async def test_forwarding_header_is_believed_only_from_a_trusted_proxy(tmp_path):
    engine = make_engine(tmp_path, pack("block"))
    async with client_for(engine, peer=HOME_IP) as c:  # not in network.trusted_proxies
        r = await c.get("/", headers={**original(alice_token(), HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 200  # the client's own X-Forwarded-For is ignored: the peer is the client
    async with client_for(engine, peer=HOSTING_IP) as c:  # a hosting peer that is not a proxy
        r = await c.get("/", headers={**original(alice_token(), HOME_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 403
    await engine.close()


async def test_x_real_ip_is_read_when_no_forwarding_header_is_sent(blocking):
    h = {**original(alice_token()), **nginx("POST", "/v1/media/m1/like"), "x-real-ip": HOSTING_IP}
    del h["x-forwarded-for"]
    assert (await blocking.get("/", headers=h)).status_code == 403


async def test_nginx_style_throttle_travels_as_403_with_the_real_status(tmp_path):
    engine = make_engine(tmp_path, pack("throttle", extra="    retry_after: 30\n"))
    async with client_for(engine) as c:
        r = await c.get("/", headers={**original(alice_token(), HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 403  # nginx turns anything but 2xx/401/403 into a 500
        assert r.headers["x-gateway-status"] == "429" and r.headers["retry-after"] == "30"
        assert json.loads(r.headers["x-gateway-body"])["status"] == 429
        r = await c.get("/", headers={**original(alice_token(), HOSTING_IP), **traefik("POST", "/v1/media/m1/like")})
        assert r.status_code == 429 and r.headers["retry-after"] == "30"
    await engine.close()


async def test_absorb_is_replayed_by_nginx_and_blocked_for_proxies_that_read_2xx_as_go(tmp_path):
    engine = make_engine(tmp_path, pack("absorb"))
    async with client_for(engine) as c:
        r = await c.get("/", headers={**original(alice_token(), HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 403 and r.headers["x-gateway-status"] == "200"
        assert json.loads(r.headers["x-gateway-body"]) == {"status": "ok"}
        assert "x-gateway-decision-id" not in r.headers  # an absorbed client must not learn it was stopped
        r = await c.get("/", headers={**original(alice_token(), HOSTING_IP), **traefik("POST", "/v1/media/m1/like")})
        assert r.status_code == 403 and r.json()["status"] == 403
    await engine.close()


async def test_the_risk_header_is_the_number_the_decision_log_writes(tmp_path):
    weighed = """
pack: test-forward-auth
rules:
  - id: test-weight
    description: adds risk without deciding
    on: ["*"]
    when: 'net.class == "hosting"'
    weight: 12.5
"""
    engine = make_engine(tmp_path, weighed)
    logged = []
    decide = engine.decide

    async def logging_decide(facts):
        verdict = await decide(facts)
        logged.append(engine._log_entry(facts, verdict, None)["risk"])
        return verdict

    engine.decide = logging_decide  # type: ignore[method-assign]
    async with client_for(engine) as c:
        for ip in (HOME_IP, HOSTING_IP):
            r = await c.get("/", headers={**original(alice_token(), ip), **nginx("POST", "/v1/media/m1/like")})
            assert r.status_code == 200 and r.headers["x-gateway-risk"] == json.dumps(logged[-1])
    assert logged == [0.0, 12.5]
    await engine.close()


async def test_shadow_mode_passes_and_says_the_decision_was_not_enforced(tmp_path):
    engine = make_engine(tmp_path, pack("block"))
    engine.shadow = True
    async with client_for(engine) as c:
        r = await c.get("/", headers={**original(alice_token(), HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 200
        assert r.headers["x-gateway-decision"] == "block" and r.headers["x-gateway-enforced"] == "false"
    await engine.close()


@pytest.mark.parametrize("headers, detail", [
    ({"x-original-uri": "/v1/media/m1/like"}, "no method header"),
    ({"x-original-method": "POST", "x-original-uri": "v1/media"}, "must start with '/'"),
    ({"x-forwarded-method": "P O S T", "x-forwarded-uri": "/v1/media/m1/like"}, "not an HTTP method"),
])
async def test_malformed_check_requests_are_400_not_500(blocking, headers, detail):
    r = await blocking.get("/", headers=headers)
    assert r.headers["content-type"] == "application/problem+json" and detail in r.json()["detail"]
    if "x-original-uri" in headers:  # to nginx: a 403 carrying the 400, which nginx would make a 500
        assert r.status_code == 403 and r.headers["x-gateway-status"] == "400"
    else:
        assert r.status_code == 400


def test_bad_forward_auth_settings_name_the_key(tmp_path):
    engine = make_engine(tmp_path, pack("block"), envoy_path_prefix="authz")
    with pytest.raises(ConfigError, match="forward_auth.envoy_path_prefix"):
        build_authz_app(engine)
    # header names arrive in lower case: a capitalised secret header never matched, and births were lost silently
    engine = make_engine(tmp_path, pack("block"), sessions_secret_header="X-Gateway-Secret")
    with pytest.raises(ConfigError, match="forward_auth.sessions_secret_header: write header names in lower case"):
        build_authz_app(engine)


# -- session birth: POST /sessions --------------------------------------------------------

BORN_ELSEWHERE = pack("block", when="session.birth_observed && session.class_changed")


def notification(tok: str, ip: str = HOME_IP) -> dict:
    return {"access_token": tok, "client_ip": ip, "user_agent": APP_UA, "device_id": "dev-1"}


async def test_session_notification_records_the_birth(tmp_path):
    engine = make_engine(tmp_path, BORN_ELSEWHERE)
    async with client_for(engine) as c:
        born_at_home = alice_token()
        r = await c.post("/sessions", json=notification(born_at_home), headers={"x-gateway-secret": SECRET})
        assert r.status_code == 202 and r.json()["recorded"] is True
        # Used from a datacenter: the birth (seen through the notification) was on a home line.
        r = await c.get("/", headers={**original(born_at_home, HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 403
        # Without a notification, first use is the birth: nothing to compare with yet.
        unseen = alice_token()
        r = await c.get("/", headers={**original(unseen, HOSTING_IP), **nginx("POST", "/v1/media/m1/like")})
        assert r.status_code == 200
    await engine.close()


@pytest.mark.parametrize("body, status, detail", [
    (b"not json", 400, "JSON object"),
    (b"[]", 400, "JSON object"),
    (json.dumps({"client_ip": HOME_IP}).encode(), 400, "access_token: required"),
    (json.dumps({"access_token": "x", "client_ip": "nowhere"}).encode(), 400, "client_ip"),
    (json.dumps({"access_token": "x", "client_ip": HOME_IP, "ip": 1}).encode(), 400, "unknown field 'ip'"),
    (json.dumps({"access_token": "x", "client_ip": HOME_IP, "tls": 5}).encode(), 400, "tls: expected a string"),
    (json.dumps({"access_token": "not.a.jwt", "client_ip": HOME_IP}).encode(), 422, "access_token"),
    (b"x" * 20000, 413, "at most"),
    (b"[" * 15000, 400, "JSON object"),  # nested past the stack: was a 500
])
async def test_bad_session_notifications_are_named(blocking, body, status, detail):
    r = await blocking.post("/sessions", content=body, headers={"x-gateway-secret": SECRET})
    assert r.status_code == status and detail in r.json()["detail"], r.text


async def test_session_notifications_need_the_secret_and_a_trusted_notifier(tmp_path):
    engine = make_engine(tmp_path, BORN_ELSEWHERE)
    async with client_for(engine) as c:
        r = await c.post("/sessions", json=notification(alice_token()), headers={"x-gateway-secret": "wrong"})
        assert r.status_code == 403 and "shared secret" in r.json()["detail"]
    async with client_for(engine, peer=HOME_IP) as c:
        r = await c.post("/sessions", json=notification(alice_token()), headers={"x-gateway-secret": SECRET})
        assert r.status_code == 403 and "trusted_proxies" in r.json()["detail"]
    await engine.close()
    off = make_engine(tmp_path, BORN_ELSEWHERE, sessions_secret=None, sessions_secret_env="GATEWAY_TEST_UNSET_SECRET")
    async with client_for(off) as c:
        r = await c.post("/sessions", json=notification(alice_token()), headers={"x-gateway-secret": SECRET})
        assert r.status_code == 403 and "sessions_secret" in r.json()["detail"]
    await off.close()


# -- the command line ------------------------------------------------------------------------


def test_authz_command_names_a_bad_config(tmp_path, capsys):
    from gateway.frontdoors.cli import authz_main

    assert authz_main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("forward_auth: {envoy_path_prefx: /authz}\n")
    assert authz_main(["--config", str(bad)]) == 2
    assert "did you mean 'envoy_path_prefix'" in capsys.readouterr().err


def test_proxy_command_names_a_bad_upstream(tmp_path, capsys):
    from gateway.frontdoors.cli import proxy_main

    config = tmp_path / "g.yaml"
    config.write_text("log: {sink: null}\n")
    assert proxy_main(["--config", str(config), "--upstream", "127.0.0.1:8080"]) == 2
    assert "http://127.0.0.1:8080" in capsys.readouterr().err


def test_authz_is_served_by_httptools_a_dependency(tmp_path):
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from gateway.frontdoors.serving import uvicorn_config

    config = uvicorn_config(build_authz_app(make_engine(tmp_path, pack("block"))))
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol  # a third of h11's cost per check
    assert (config.loop, config.proxy_headers, config.server_header, config.date_header) == ("auto", False, False, False)
