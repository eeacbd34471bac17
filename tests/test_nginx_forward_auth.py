"""A real nginx with auth_request pointed at `gateway authz`, in front of the demo API on loopback.

The nginx config is exactly the snippet docs/proxies.md shows
(nginx_support.server_block); only the file paths are the test's.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import free_port
from frontdoor_support import (
    HOME_IP,
    HOSTING_BLOCK_RULE,
    HOSTING_IP,
    app_headers,
    login,
    quiet_engine,
    rule_pack,
)
from nginx_support import INSTALL_HINT, nginx_available, running_nginx, server_block

from gateway.demo.app import build_demo_app
from gateway.frontdoors.forward_auth import build_authz_app
from gateway.frontdoors.serving import serving

needs_nginx = pytest.mark.skipif(not nginx_available(), reason=f"nginx is not installed; {INSTALL_HINT}")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "proxies.md"

MOBILE_IP = "100.64.0.10"  # Liberty Wireless: mobile
VPN_IP = "25.0.0.10"  # Burrow VPN
RULES = rule_pack("test-nginx", HOSTING_BLOCK_RULE, """
  - id: test-mobile-throttle
    description: throttles every action from a mobile network (test only)
    on: ["*"]
    when: net.class == "mobile"
    action: throttle
    retry_after: 30
""", """
  - id: test-vpn-absorb
    description: absorbs every action from a VPN (test only)
    on: ["*"]
    when: net.class == "vpn"
    action: absorb
""")


class Counting:
    """The backend, counting the requests that reach it."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str | None]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            decision = dict(scope["headers"]).get(b"x-gateway-decision")
            self.seen.append((scope["method"], scope["path"], decision.decode() if decision else None))
        await self.app(scope, receive, send)


def hostport(url: str) -> str:
    return url.removeprefix("http://")


def test_the_documented_snippet_is_the_tested_one():
    documented = server_block(listen="8000", authz="127.0.0.1:9000", backend="127.0.0.1:8080")
    assert documented.strip() in DOCS.read_text()


@pytest.fixture
def nginx_front(tmp_path):
    """nginx (trusted: it is the authz service's loopback peer) -> gateway authz, and -> the demo API."""
    engine = quiet_engine(tmp_path, RULES)
    backend_app = Counting(build_demo_app())
    with serving(backend_app, free_port()) as backend, serving(build_authz_app(engine), free_port()) as authz:
        port = free_port()
        block = server_block(listen=f"127.0.0.1:{port}", authz=hostport(authz), backend=hostport(backend))
        with running_nginx(tmp_path / "nginx", block, port) as url, httpx.Client(base_url=url, timeout=10) as c:
            yield c, backend_app


@needs_nginx
def test_benign_request_is_served_by_the_backend(nginx_front):
    c, backend = nginx_front
    token = login(c)  # the token endpoint is not decided: nginx lets it through
    r = c.post("/v1/media/m1/like", headers=app_headers(token, HOME_IP))
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert ("POST", "/v1/media/m1/like", "allow") in backend.seen  # the decision travelled upstream
    assert c.get("/v1/feed").json() == {"items": []}  # unprotected


@needs_nginx
def test_abusive_request_is_stopped_with_the_gateways_status_and_body(nginx_front):
    c, backend = nginx_front
    token = login(c)
    r = c.post("/v1/media/m1/like", headers=app_headers(token, HOSTING_IP))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 403 and body["type"] == "urn:gateway:problem:third-party-app"
    assert body["decision_id"] == r.headers["x-gateway-decision-id"]
    assert [hit for hit in backend.seen if hit[1] == "/v1/media/m1/like"] == []


@needs_nginx
def test_missing_token_is_401_with_www_authenticate(nginx_front):
    c, backend = nginx_front
    r = c.post("/v1/media/m1/like", headers=app_headers(None, HOME_IP))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="gateway"')
    assert r.headers.get_list("www-authenticate") == [r.headers["www-authenticate"]]  # not doubled
    assert r.json()["status"] == 401 and r.headers["cache-control"] == "no-store"


@needs_nginx
def test_throttle_reaches_the_client_as_429_with_retry_after(nginx_front):
    c, backend = nginx_front
    token = login(c)
    r = c.post("/v1/users/u9/follow", headers=app_headers(token, MOBILE_IP))
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    assert r.json()["status"] == 429 and r.headers["content-type"] == "application/problem+json"


@needs_nginx
def test_absorbed_request_looks_like_success_and_never_reaches_the_backend(nginx_front):
    c, backend = nginx_front
    token = login(c)
    r = c.post("/v1/media/m1/like", headers=app_headers(token, VPN_IP))
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["content-type"] == "application/json"
    assert "x-gateway-decision-id" not in r.headers
    assert [hit for hit in backend.seen if hit[1] == "/v1/media/m1/like"] == []
