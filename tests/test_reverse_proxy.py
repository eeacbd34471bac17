"""The reverse proxy through uvicorn with real HTTP: streaming both ways, headers, upstream failures."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import httpx
import pytest
from conftest import free_port
from frontdoor_support import (
    BLOCK_HOSTING,
    HOME_IP,
    HOSTING_IP,
    alice_token,
    app_headers,
    quiet_engine,
)

from gateway.engine import Engine
from gateway.frontdoors.reverse_proxy import ProxyLimits, build_proxy_app, check_upstream
from gateway.frontdoors.serving import serving

CHUNK = 64 * 1024


class Upstream:
    """A raw ASGI backend that streams, counts what reaches it, and notices when a stream is closed."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str]] = []
        self.seen_headers: dict[str, list[tuple[str, str]]] = {}
        self.stream_closed = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        path = scope["path"]
        self.hits.append((scope["method"], path))
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        self.seen_headers[path] = headers
        if path == "/upload":
            digest, size, chunks = hashlib.sha256(), 0, 0
            while True:
                message = await receive()
                body = message.get("body", b"")
                digest.update(body)
                size += len(body)
                chunks += bool(body)
                if not message.get("more_body"):
                    break
            return await self._json(send, 201, {"sha256": digest.hexdigest(), "size": size, "chunks": chunks},
                                    extra=[(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-upstream", b"yes")])
        if path == "/download":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream"), (b"x-upstream", b"yes")]})
            for i in range(80):  # 5 MiB, chunked
                await send({"type": "http.response.body", "body": bytes([i % 251]) * CHUNK, "more_body": True})
            return await send({"type": "http.response.body", "body": b""})
        if path == "/endless":
            gone = asyncio.Event()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone.set()

            watcher = asyncio.create_task(watch())
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            for _ in range(20_000):  # bounded: about 1 GiB, never reached when the proxy closes the stream
                if gone.is_set():
                    self.stream_closed.set()
                    break
                await send({"type": "http.response.body", "body": b"x" * CHUNK, "more_body": True})
                await asyncio.sleep(0.001)
            watcher.cancel()
            return
        if path == "/slow":
            await asyncio.sleep(3)
        return await self._json(send, 200, {"path": path, "query": scope["query_string"].decode()})

    @staticmethod
    async def _json(send, status: int, payload: dict, extra: list | None = None) -> None:
        import json

        body = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), *(extra or [])]})
        await send({"type": "http.response.body", "body": body})


def make_engine(tmp_path) -> Engine:
    return quiet_engine(tmp_path, BLOCK_HOSTING)


@pytest.fixture
def proxied(tmp_path):
    """(proxy URL, upstream) with the gateway in front of a real upstream, both on uvicorn."""
    upstream = Upstream()
    with serving(upstream, free_port()) as up_url:
        app = build_proxy_app(make_engine(tmp_path), up_url, limits=ProxyLimits(read_s=1.0))
        with serving(app, free_port()) as url:
            yield url, upstream


def test_streamed_upload_passes_intact_and_chunked(proxied):
    url, upstream = proxied
    chunks = [bytes([i]) * CHUNK for i in range(64)]  # 4 MiB

    def body():
        yield from chunks

    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/upload", content=body(), headers={"x-custom": "kept"})
    assert r.status_code == 201
    assert r.json()["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert r.json()["size"] == 64 * CHUNK
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"] and r.headers["x-upstream"] == "yes"
    seen = dict(upstream.seen_headers["/upload"])
    assert seen["transfer-encoding"] == "chunked" and "content-length" not in seen  # streamed, not buffered
    assert seen["x-custom"] == "kept"


def test_streamed_download_passes_intact(proxied):
    url, _ = proxied
    digest, size = hashlib.sha256(), 0
    with httpx.Client(base_url=url, timeout=30) as c, c.stream("GET", "/download") as r:
        assert r.status_code == 200 and r.headers["x-upstream"] == "yes"
        assert r.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.headers
        for chunk in r.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    expected = b"".join(bytes([i % 251]) * CHUNK for i in range(80))
    assert size == len(expected) and digest.hexdigest() == hashlib.sha256(expected).hexdigest()


def test_headers_forwarded_and_hop_by_hop_dropped(proxied):
    url, upstream = proxied
    with httpx.Client(base_url=url) as c:
        for name in ("accept", "accept-encoding", "user-agent"):  # a client that sends none of them
            del c.headers[name]
        r = c.get("/v1/feed?x=1&y=%2F", headers={"connection": "keep-alive, x-hop", "x-hop": "secret",
                                                  "keep-alive": "timeout=5", "x-forwarded-for": "198.51.100.7"})
    assert r.status_code == 200 and r.json() == {"path": "/v1/feed", "query": "x=1&y=%2F"}
    seen = dict(upstream.seen_headers["/v1/feed"])
    assert "x-hop" not in seen and "keep-alive" not in seen
    # the proxy adds none of its own: an upstream must not gzip for a client that never asked for it
    assert "accept-encoding" not in seen and "accept" not in seen and "user-agent" not in seen
    assert seen["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http" and seen["x-forwarded-host"] == url.removeprefix("http://")


def test_protected_route_blocked_by_a_rule_never_reaches_the_upstream(proxied):
    url, upstream = proxied
    token = alice_token()
    with httpx.Client(base_url=url) as c:
        r = c.post("/v1/media/m1/like", headers=app_headers(token, HOSTING_IP))
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["decision_id"] == r.headers["x-gateway-decision-id"]
        assert ("POST", "/v1/media/m1/like") not in upstream.hits
        assert c.post("/v1/media/m1/like", headers=app_headers(None, HOSTING_IP)).status_code == 401
        assert ("POST", "/v1/media/m1/like") not in upstream.hits
        r = c.post("/v1/media/m1/like", headers=app_headers(token, HOME_IP))
        assert r.status_code == 200 and r.json()["path"] == "/v1/media/m1/like"
        assert ("POST", "/v1/media/m1/like") in upstream.hits


def test_upstream_down_is_a_quick_502(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with serving(build_proxy_app(make_engine(tmp_path), dead), free_port()) as url, httpx.Client(base_url=url, timeout=10) as c:
        r = c.get("/v1/feed")
    assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Bad Gateway"


def test_slow_upstream_is_a_504(proxied):
    url, _ = proxied
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.get("/slow")
    assert r.status_code == 504 and r.json()["status"] == 504


def test_client_disconnect_closes_the_upstream_stream(proxied):
    url, upstream = proxied
    with httpx.Client(base_url=url, timeout=10) as c, c.stream("GET", "/endless") as r:
        assert r.status_code == 200
        for i, _ in enumerate(r.iter_raw()):
            if i == 5:
                break
    # Bounded wait: the upstream's generator must be closed once the client has gone.
    deadline = time.monotonic() + 10
    while not upstream.stream_closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.stream_closed.is_set()


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "ftp://x", "http://", "http://h/?q=1"])
def test_bad_upstream_urls_are_refused_with_an_example(bad):
    with pytest.raises(ValueError, match="http"):
        check_upstream(bad)


def test_the_proxy_is_served_by_h11_which_hands_over_the_whole_request_target(tmp_path):
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from gateway.frontdoors.serving import uvicorn_config

    config = uvicorn_config(build_proxy_app(make_engine(tmp_path), "http://127.0.0.1:9"))
    config.load()
    assert config.http_protocol_class is H11Protocol


def test_a_body_framed_twice_is_refused_before_the_upstream(proxied):
    """Transfer-Encoding with a Content-Length (RFC 9112 section 6.1): the two would frame the body differently
    upstream, so the request is refused with a 400, never passed on and never a 500."""
    import socket

    url, upstream = proxied
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"both Transfer-Encoding and Content-Length" in answer
    assert ("POST", "/upload") not in upstream.hits
