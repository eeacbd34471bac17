"""The reverse proxy: the gateway middleware in front of any HTTP backend.

``build_proxy_app(engine, upstream)`` forwards every request the gateway lets
through to ``upstream`` with httpx, streaming both bodies (never holding a
whole body in memory), keeping the upstream's status, headers and body, and
dropping hop-by-hop headers (RFC 9110 section 7.6.1). An upstream that is down
answers 502 and one that is too slow 504, as problem+json from the gateway.
A client that goes away closes the upstream stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import httpx
from starlette.types import Receive, Scope, Send

from gateway.engine import Engine
from gateway.frontdoors.asgi import ClientGone, send_problem
from gateway.frontdoors.middleware import GatewayMiddleware
from gateway.frontdoors.original_request import has_dot_segment

logger = logging.getLogger("gateway.proxy")

# RFC 9110 section 7.6.1: these describe one connection, not the message.
HOP_BY_HOP = frozenset({b"connection", b"proxy-connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade"})
_X_FORWARDED = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    """How long to wait for the upstream and how many connections to hold to it."""

    connect_s: float = 5.0
    read_s: float = 60.0  # between two chunks of the upstream's answer
    write_s: float = 60.0
    pool_s: float = 5.0  # waiting for a free connection when all are busy
    max_connections: int = 100
    max_keepalive: int = 20

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_s, read=self.read_s, write=self.write_s, pool=self.pool_s)

    def limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_keepalive)


def hop_by_hop(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The hop-by-hop header names of a message: the fixed set plus those its Connection header lists."""
    named = {t.strip().lower() for k, v in headers if k.lower() == b"connection" for t in v.split(b",")}
    return HOP_BY_HOP | named


def check_upstream(upstream: str) -> httpx.URL:
    """The upstream base URL; ValueError naming the fix when it is not an http(s) URL with a host."""
    try:
        url = httpx.URL(upstream)
    except Exception:
        raise ValueError(f"--upstream {upstream!r} is not a URL; write e.g. http://127.0.0.1:8080") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"--upstream {upstream!r} must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080")
    if url.query:
        raise ValueError(f"--upstream {upstream!r}: give no query string; requests bring their own")
    return url


class Forwarder:
    """An ASGI app that sends every request on to one upstream."""

    def __init__(self, upstream: str, limits: ProxyLimits | None = None, *, preserve_host: bool = False) -> None:
        self.base = check_upstream(upstream)
        self._prefix = self.base.raw_path.rstrip(b"/")
        self.limits = limits or ProxyLimits()
        self.preserve_host = preserve_host
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No retries, no redirects followed, no environment proxies: the proxy must be transparent.
            self._client = httpx.AsyncClient(timeout=self.limits.timeout(), limits=self.limits.limits(),
                                             follow_redirects=False, trust_env=False)
            for name in ("accept", "accept-encoding", "user-agent"):  # httpx's own: only the client's go upstream
                del self._client.headers[name]
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return  # websockets are not proxied
        if has_dot_segment(scope["path"]):
            return await send_problem(send, 400, "Bad Request", "The path has a '.' or '..' segment.")
        if _framed_twice(scope["headers"]):
            # RFC 9112 section 6.1: the chunked body wins and its Content-Length is stale; passed on, the two
            # would frame the body differently upstream (request smuggling), so the request is refused
            return await send_problem(send, 400, "Bad Request", "The request has both Transfer-Encoding and Content-Length.")
        try:
            request = self._build(scope, receive)
        except httpx.InvalidURL:  # e.g. an absolute-form target, whose path is a whole URL
            return await send_problem(send, 400, "Bad Request", "The request target is not a path.")
        try:
            response = await self.client().send(request, stream=True)
        except ClientGone:
            return
        except httpx.TimeoutException as exc:
            logger.warning("upstream %s timed out: %s", self.base, type(exc).__name__)
            return await send_problem(send, 504, "Gateway Timeout", "The upstream did not answer in time.")
        except httpx.HTTPError as exc:
            logger.warning("upstream %s unreachable: %s: %s", self.base, type(exc).__name__, exc)
            return await send_problem(send, 502, "Bad Gateway", "The upstream could not be reached.")
        try:
            await self._relay(response, receive, send)
        finally:
            await response.aclose()

    def _build(self, scope: Scope, receive: Receive) -> httpx.Request:
        raw = list(scope["headers"])
        drop = hop_by_hop(raw) | _X_FORWARDED
        headers = [(k, v) for k, v in raw if k.lower() not in drop]
        host = next((v for k, v in raw if k.lower() == b"host"), b"")
        client = scope.get("client")
        forwarded_for = b", ".join(v for k, v in raw if k.lower() == b"x-forwarded-for")
        peer = (client[0] if client else "unknown").encode("latin-1")
        headers.append((b"x-forwarded-for", forwarded_for + b", " + peer if forwarded_for else peer))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
        if host:
            headers.append((b"x-forwarded-host", host))
            if self.preserve_host:
                headers.append((b"host", host))
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string", b"")
        raw_path = self._prefix + path + (b"?" + query if query else b"")
        url = self.base.copy_with(raw_path=raw_path)
        if url.raw_path != raw_path:
            # httpx normalised the path: the upstream would get a path other than the one the gateway judged.
            raise httpx.InvalidURL(f"the path {raw_path!r} does not pass to the upstream unchanged")
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in raw)
        return self.client().build_request(scope["method"], url, headers=headers,
                                           content=_request_body(receive) if has_body else None)

    async def _relay(self, response: httpx.Response, receive: Receive, send: Send) -> None:
        raw = response.headers.raw
        drop = hop_by_hop(raw)
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(k.lower(), v) for k, v in raw if k.lower() not in drop]})
        finished = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
            try:
                async for chunk in response.aiter_raw():
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finished = True
            except httpx.HTTPError as exc:
                # The status is already sent; ending without completing tells the client the body broke.
                logger.warning("upstream %s broke off its answer: %s: %s", self.base, type(exc).__name__, exc)
            tg.cancel_scope.cancel()
        if finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return



def _framed_twice(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {k.lower() for k, _ in headers}
    return b"transfer-encoding" in names and b"content-length" in names


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    """The client's body, chunk by chunk as it arrives."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Stop relaying when the client goes away, so the upstream stream is closed."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


class ProxyGateway(GatewayMiddleware):
    """The gateway middleware in front of a ``Forwarder``."""

    # uvicorn's httptools parser hands the app only the path of an absolute-form
    # target (POST http://host/path); h11 hands over the whole target, which the
    # forwarder refuses with a 400 rather than guess which host was meant.
    http_parser = "h11"


def build_proxy_app(engine: Engine, upstream: str, *, limits: ProxyLimits | None = None,
                    preserve_host: bool = False) -> GatewayMiddleware:
    """The gateway in front of ``upstream``. Raises ValueError for an upstream that is not an http(s) URL."""
    return ProxyGateway(Forwarder(upstream, limits, preserve_host=preserve_host), engine=engine)
