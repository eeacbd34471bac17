"""The forward-auth service: a proxy asks "may this request through?", the engine answers.

``build_authz_app(engine)`` is an ASGI app for nginx ``auth_request``, Traefik
``forwardAuth`` and Envoy ``ext_authz`` (HTTP service). Per check request:

- which request it is about is read per proxy style (``original_request``);
- a path the engine does not protect answers 200 at once;
- otherwise the engine decides, and the answer is 200 with
  ``x-gateway-decision-id``, ``x-gateway-decision`` and ``x-gateway-risk`` for
  the proxy to pass upstream, or the verdict's status, headers and
  problem+json body (``gateway.frontdoors.responses.render``) for the proxy to return.

nginx understands only 2xx, 401 and 403 from ``auth_request`` (anything else
becomes a 500), so for nginx-style checks a 429 or an absorbed answer is sent
as a 403 carrying the real status in ``x-gateway-status`` and the body in
``x-gateway-body``; the nginx snippet in docs/proxies.md replays them. Traefik
and Envoy read any 2xx as "let it through", so an absorb verdict cannot be
answered as a success there: it is answered as a block (403).

The client address: the proxy is the immediate peer, and its forwarding
header is believed only when it is in ``network.trusted_proxies`` (the same
rule the middleware follows).
"""

from __future__ import annotations

import dataclasses
import json
import logging

from starlette.types import Receive, Scope, Send

from gateway.engine import Engine
from gateway.frontdoors.asgi import (
    Headers,
    RawHeaders,
    header_map,
    problem,
    send_problem,
    send_raw_response,
    send_response,
)
from gateway.frontdoors.door import Answer, FrontDoor
from gateway.frontdoors.original_request import (
    ORIGINAL,
    BadCheckRequest,
    OriginalRequest,
    read_original,
)
from gateway.frontdoors.sessions import SessionNotifications
from gateway.settings import ConfigError, Route
from gateway.verdict import Decision, Verdict

logger = logging.getLogger("gateway.authz")

MAX_HEADER_BODY = 2048  # a body relayed in a header must fit nginx's default proxy_buffer_size with room to spare
_FORWARDED_HOST = "x-forwarded-host"
_FORWARDED_PROTO = "x-forwarded-proto"
_DECISION_VALUES = {d: d.value.encode() for d in Decision}


class AuthzApp:
    """ASGI app answering forward-auth checks with the engine's verdict."""

    def __init__(self, engine: Engine) -> None:
        settings = engine.settings
        self.engine = engine
        self.fa = settings.forward_auth
        check_forward_auth(settings)
        self.door = FrontDoor(engine)
        self._forward_header = settings.network.forwarded_header
        self._meta_headers = frozenset(
            (*self.fa.original_method_headers, *self.fa.original_uri_headers,
             *self.fa.forwarded_method_headers, *self.fa.forwarded_uri_headers, _FORWARDED_HOST, _FORWARDED_PROTO)
        )
        self.sessions = SessionNotifications(self.door)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return await self._lifespan(receive, send)
        if kind != "http":
            return  # websockets are not checked here
        engine = self.engine
        if not engine.started:
            await engine.start()
        headers = header_map(scope)
        fa = self.fa
        if scope["method"] == "POST" and scope["path"] == fa.sessions_path and fa.sessions_secret_header in headers:
            return await self.sessions.handle(scope, receive, send, headers)
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            original = read_original(scope["method"], path, query, headers, fa)
        except BadCheckRequest as exc:
            return await self._bad_check(send, headers, str(exc))
        door = self.door
        match = door.match(original.method, original.path)
        if match is None:
            return await send_raw_response(send, 200, [])  # not protected: nothing to decide
        client = scope.get("client")
        facts = door.facts(engine.clock(), match, original.method, original.path, client[0] if client else "",
                           self._original_headers(headers), original.query, headers.get(_FORWARDED_PROTO, "http"))
        answer = await door.answer(facts, match)
        if answer.verdict is None:  # the token endpoint: its answer is not seen here (see sessions)
            return await send_raw_response(send, 200, [])
        if answer.response is None:
            return await send_raw_response(send, 200, _passing_headers(answer.verdict))
        await send_response(send, *self._denial(answer, match.route, original, facts.headers.get("accept-language")))

    async def _bad_check(self, send: Send, headers: dict[str, str], detail: str) -> None:
        """A 400 naming the fault; nginx turns any answer but 2xx, 401 and 403 into a 500, so through it a 403
        carrying the 400 in headers, as a verdict's other answers travel."""
        fa = self.fa
        if not any(name in headers for name in (*fa.original_method_headers, *fa.original_uri_headers)):
            return await send_problem(send, 400, "Bad forward-auth request", detail)
        body = problem(400, "Bad forward-auth request", detail)
        await send_response(send, 403, [("content-type", "application/problem+json"), ("x-gateway-status", "400"),
                                        ("x-gateway-body", header_safe(body)),
                                        ("x-gateway-content-type", "application/problem+json")], body)

    def _original_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """The original request's headers as the engine should see them."""
        out = {k: v for k, v in headers.items() if k not in self._meta_headers}
        host = headers.get(_FORWARDED_HOST)
        if host:
            out["host"] = host  # the host the client asked for, not the check's own target (DPoP htu)
        fallback = self.fa.client_ip_fallback_header
        if fallback and self._forward_header not in out:
            ip = out.pop(fallback, None)
            if ip:
                out[self._forward_header] = ip if self._forward_header != "forwarded" else f'for="{ip.strip()}"'
        return out

    def _denial(self, answer: Answer, route: Route | None, original: OriginalRequest,
                accept_language: str | None) -> tuple[int, Headers, bytes]:
        """The answer that reaches the client through this proxy style (``answer`` does not pass)."""
        verdict = answer.verdict
        assert verdict is not None and answer.response is not None
        status, headers, body = answer.response
        if 200 <= status < 300 and original.style != ORIGINAL:
            # Traefik and Envoy would let a 2xx through: an absorbed request is blocked instead.
            status, headers, body = self._blocked(verdict, route, accept_language)
        content_type = next((v for k, v in headers if k == "content-type"), "application/problem+json")
        headers = [*(h for h in headers if h[0] != "content-type"), ("content-type", content_type)]
        if original.style != ORIGINAL or status in (401, 403):
            if original.style == ORIGINAL:
                headers += [("x-gateway-status", str(status)), ("x-gateway-body", header_safe(body))]
            return status, headers, body
        relayed = header_safe(body)
        if len(relayed) > MAX_HEADER_BODY:
            logger.warning("a %d answer of %d bytes is too long to relay through nginx; answering 403", status, len(body))
            blocked = self._blocked(verdict, route, accept_language)
            return self._denial(Answer(verdict, blocked[0], blocked), route, original, accept_language)
        headers += [("x-gateway-status", str(status)), ("x-gateway-body", relayed),
                    ("x-gateway-content-type", content_type)]
        return 403, headers, body

    def _blocked(self, verdict: Verdict, route: Route | None, accept_language: str | None) -> tuple[int, Headers, bytes]:
        return self.door.render(dataclasses.replace(verdict, decision=Decision.BLOCK), route, accept_language)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.engine.start()
                except Exception as exc:  # the server must say why it cannot start, not hang
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.engine.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _passing_headers(verdict: Verdict) -> RawHeaders:
    """What the proxy may pass upstream about a request it lets through (the risk written as the log writes it)."""
    headers = [
        (b"x-gateway-decision-id", verdict.decision_id.encode("latin-1")),
        (b"x-gateway-decision", _DECISION_VALUES[verdict.decision]),
        (b"x-gateway-risk", str(verdict.risk).encode()),
    ]
    if not verdict.enforced:
        headers.append((b"x-gateway-enforced", b"false"))  # shadow mode: the decision was only logged
    return headers


def header_safe(body: bytes) -> str:
    """A body as one header value: printable ASCII, JSON re-encoded with escapes when it is not already."""
    text = body.decode("utf-8", "replace")
    if text.isascii() and text.isprintable():
        return text
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in text)


def check_forward_auth(settings) -> None:
    """The forward_auth section's values that a type check cannot catch."""
    fa = settings.forward_auth
    where = settings.source or "config"
    prefix = fa.envoy_path_prefix
    if prefix and not prefix.startswith("/"):
        raise ConfigError(f"{where}: forward_auth.envoy_path_prefix: {prefix!r} must start with '/' (e.g. /authz)")
    if not fa.sessions_path.startswith("/"):
        raise ConfigError(f"{where}: forward_auth.sessions_path: {fa.sessions_path!r} must start with '/'")
    names = [(f"{key}[{i}]", name) for key in ("original_method_headers", "original_uri_headers",
                                               "forwarded_method_headers", "forwarded_uri_headers")
             for i, name in enumerate(getattr(fa, key))]
    names += [(key, getattr(fa, key)) for key in ("sessions_secret_header", "client_ip_fallback_header")
              if getattr(fa, key) is not None]
    for key, name in names:  # header names arrive in lower case: another spelling would never match
        if name != name.lower() or not name:
            raise ConfigError(f"{where}: forward_auth.{key}: write header names in lower case, e.g. {name.lower()!r}")


def build_authz_app(engine: Engine) -> AuthzApp:
    """The forward-auth ASGI app on ``engine``. Raises ConfigError for a bad forward_auth section."""
    return AuthzApp(engine)


__all__ = ["AuthzApp", "build_authz_app"]
