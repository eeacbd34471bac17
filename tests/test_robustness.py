"""Hostile and malformed requests through the real ASGI apps: never a 500, never a fault that passes unchecked."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket

import pytest
from conftest import free_port

from gateway.demo.app import DEMO_CONFIG, build_protected_demo, issue_token
from gateway.engine import Engine
from gateway.settings import load_settings

APP_UA = b"Engage/412.0.1 (Android 14; Pixel 8; en_US)"
LIKE = "/v1/media/1/like"
TRUSTED_PEER = ("127.0.0.1", 40000)  # in the demo config's network.trusted_proxies


def quiet_settings():
    s = load_settings(DEMO_CONFIG)
    return dataclasses.replace(s, log=dataclasses.replace(s.log, sink=None))


async def asgi_call(app, method: str, path: str, headers: list[tuple[bytes, bytes]], *, client=TRUSTED_PEER,
                    body: bytes = b"") -> list[dict]:
    """One raw ASGI request: the scope is built by hand so bytes no HTTP client would send reach the app."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode("utf-8", "surrogateescape"), "query_string": b"",
             "headers": headers, "server": ("127.0.0.1", 80)}
    if client is not ...:
        scope["client"] = client
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)  # the client stays connected until the response is out

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


def status_of(sent: list[dict]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


@pytest.fixture
async def protected():
    engine = Engine(quiet_settings())
    await engine.start()
    yield build_protected_demo(engine=engine)
    await engine.close()


@pytest.fixture
def engine_faults(caplog):
    caplog.set_level(logging.ERROR, logger="gateway.engine")
    return lambda: [r for r in caplog.records if r.name == "gateway.engine" and r.levelno >= logging.ERROR]


def bearer() -> bytes:
    return b"Bearer " + issue_token("alice", client_id="engage-android", device_id="dev-1").encode()


@pytest.mark.parametrize("forwarded", [b"1.2.3.4\x00", b"::1\x00, 1.2.3.4", b"11.1.0.20, 1.2.3.4\x00"])
async def test_nul_in_forwarded_for_is_decided_not_an_engine_fault(protected, engine_faults, forwarded):
    # An engine fault passes the request unchecked, so a NUL must be just another unparseable hop.
    sent = await asgi_call(protected, "POST", LIKE, [(b"user-agent", APP_UA), (b"authorization", bearer()),
                                                     (b"x-forwarded-for", forwarded)])
    assert status_of(sent) == 200
    assert engine_faults() == []


@pytest.mark.parametrize("peer", ["1.2.3.4\x00", "fe80::1%\x00", "::1\x00"])
async def test_nul_in_peer_address_is_decided_not_an_engine_fault(protected, engine_faults, peer):
    sent = await asgi_call(protected, "POST", LIKE, [(b"user-agent", APP_UA), (b"authorization", bearer())],
                           client=(peer, 1))
    assert status_of(sent) == 200
    assert engine_faults() == []


def token_app(body_chunks: list[bytes], status: int = 200):
    """A token endpoint that answers with the given body, in the given chunks."""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        for i, chunk in enumerate(body_chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(body_chunks) - 1})

    return app


@pytest.mark.parametrize("chunks", [
    [b"{\"access_token\": " + b"[" * 60_000],  # nested deeper than the JSON parser recurses
    [b"\xff\xfe not json"],
    [b"{\"access_token\": \"not.a.jwt\"}"],
    [b"[1, 2, 3]"],
    [b"x" * 40_000] * 4,  # larger than the gateway reads, in chunks
    [b"{\"access_", b"token\": 7}", b""],
])
async def test_odd_token_responses_reach_the_client_whole(chunks):
    from gateway.frontdoors.middleware import GatewayMiddleware

    engine = Engine(quiet_settings())
    await engine.start()
    try:
        app = GatewayMiddleware(token_app(chunks), engine=engine)
        sent = await asgi_call(app, "POST", "/oauth/token", [(b"user-agent", APP_UA)], body=b"grant_type=password")
    finally:
        await engine.close()
    assert status_of(sent) == 200
    assert b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body") == b"".join(chunks)
    assert sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body", False)


def raw_http(base_url: str, request_line: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a request line exactly as written (HTTP clients normalise the path) and read the status."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [request_line, f"Host: {host}:{port}", "Content-Length: 0", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


@pytest.fixture
def proxied(tmp_path):
    from test_reverse_proxy import Upstream, make_engine

    from gateway.frontdoors.reverse_proxy import build_proxy_app
    from gateway.frontdoors.serving import serving

    upstream = Upstream()
    with serving(upstream, free_port()) as up_url, serving(build_proxy_app(make_engine(tmp_path), up_url), free_port()) as url:
        yield url, upstream


@pytest.mark.parametrize("target", [
    "/x/../v1/media/m1/like",  # the upstream URL would resolve the dot segment
    "/v1/./media/m1/like",
    "/v1/media/m1/x/../like",
    "/x/%2E%2E/v1/media/m1/like",  # decoded, the path has the dot segment an upstream may resolve
    "http://upstream.example/v1/media/m1/like",  # absolute form: the gateway's path is the whole URL
])
def test_proxy_never_forwards_a_path_other_than_the_one_it_judged(proxied, target):
    url, upstream = proxied
    token = issue_token("alice", client_id="engage-android", device_id="dev-1")
    hosting = {"user-agent": APP_UA.decode(), "x-forwarded-for": "21.0.0.10", "authorization": f"Bearer {token}"}
    status, answer = raw_http(url, f"POST {target} HTTP/1.1", hosting)
    assert ("POST", "/v1/media/m1/like") not in upstream.hits, answer
    assert 400 <= status < 500, answer


@pytest.mark.parametrize("uri", [b"http://[::1/v1/media/m1/like", b"https://[zz]/v1/media/m1/like"])
async def test_forward_auth_check_with_a_broken_absolute_uri_is_refused_never_a_500(uri):
    from gateway.frontdoors.forward_auth import build_authz_app

    engine = Engine(quiet_settings())
    await engine.start()
    try:
        sent = await asgi_call(build_authz_app(engine), "GET", "/check",
                               [(b"x-original-uri", uri), (b"x-original-method", b"POST"), (b"authorization", bearer())])
    finally:
        await engine.close()
    # an nginx-style check: a 403 carrying the 400 (nginx would make a 500 of a 400)
    assert status_of(sent) == 403 and (b"x-gateway-status", b"400") in sent[0]["headers"]
