"""ASGI glue: scope in, engine verdict, then the app or the gateway's own answer.

Pure ASGI (like Starlette's CORSMiddleware): ``__init__`` precomputes,
``__call__`` passes every scope that is not a protected HTTP route straight
through. Lifespan events start and stop the engine's background work.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.engine import MAX_TOKEN_RESPONSE, Engine
from gateway.facts import RequestFacts
from gateway.frontdoors.asgi import header_map, send_problem, send_response
from gateway.frontdoors.door import FrontDoor, TokenResponse
from gateway.routes import Match
from gateway.settings import Settings

logger = logging.getLogger("gateway.frontdoors.middleware")


def route_path(scope: Scope) -> str:
    """The path the app routes on: behind a root path (``uvicorn --root-path /api``, a Starlette Mount) the
    server puts it in front of ``path`` and the app takes it off again, as Starlette's get_route_path does."""
    path, root = scope["path"], scope["root_path"]
    if path == root:  # Starlette routes it as ""; no route is ""
        return "/"
    if path.startswith(root) and path[len(root)] == "/":
        return path[len(root):]
    return path


class GatewayMiddleware:
    """Protect the routes declared in ``settings`` in front of ``app``.

    ``GatewayMiddleware(app, settings)`` or ``GatewayMiddleware(app, engine=engine)``.
    """

    def __init__(self, app: ASGIApp, settings: Settings | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if settings is None:
                raise TypeError("GatewayMiddleware needs settings (gateway.load_settings(path)) or an engine")
            engine = Engine(settings)
        self.app = app
        self.engine = engine
        self.door = FrontDoor(engine)
        self._match = engine.match
        self._clock = engine.clock
        links = engine.settings.notify.links
        self._answers_path = links.path if links.base_url else None  # the owner's answer links
        self._feedback = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The common case first, with as little work as possible: an HTTP request
        # on a route the gateway does not protect goes straight to the app.
        if scope["type"] == "http":
            method = scope["method"]
            path = route_path(scope) if scope.get("root_path") else scope["path"]
            match = self._match(method, path)
            if match is None:
                if path == self._answers_path and method in ("GET", "POST"):
                    return await self._answer(scope, send)
                return await self.app(scope, receive, send)
        elif scope["type"] == "lifespan":
            return await self.app(scope, self._lifespan_receive(receive), send)
        else:
            return await self.app(scope, receive, send)
        engine = self.engine
        if not engine.started:
            try:
                await engine.start()
            except Exception:  # e.g. the JWKS cannot be read: say so, never a 500
                logger.exception("gateway could not start; answering 503 on protected routes")
                return await send_problem(send, 503, "Service Unavailable", "The gateway is not ready; try again shortly.",
                                          [("retry-after", "5")])
        facts = self._facts(scope, match)
        if match.route is None:
            return await self._token_endpoint(scope, receive, send, facts, match)
        answer = await self.door.answer(facts, match)
        if answer.response is None:
            return await self.app(scope, receive, send)
        await send_response(send, *answer.response)

    def _facts(self, scope: Scope, match: Match | None) -> RequestFacts:
        client = scope.get("client")
        return self.door.facts(self._clock(), match, scope["method"], scope["path"], client[0] if client else "",
                               header_map(scope), scope.get("query_string", b"").decode("latin-1"),
                               scope.get("scheme", "http"))

    async def _answer(self, scope: Scope, send: Send) -> None:
        """An owner's answer link: the gateway answers it itself (never the app, never a redirect)."""
        engine = self.engine
        if not engine.started:
            await engine.start()
        if self._feedback is None:
            from gateway.notify.feedback import Feedback

            self._feedback = Feedback(engine)
        await send_response(send, *await self._feedback.answer(self._facts(scope, None)))

    async def _token_endpoint(self, scope: Scope, receive: Receive, send: Send, facts: RequestFacts,
                              match: Match) -> None:
        """Pass the token request to the app; read its answer to record the session's birth.

        The birth is recorded before the last body chunk goes out, so the client
        cannot use the token before the gateway knows where it was born.
        """
        status = 0
        chunks: list[bytes] = []
        size = 0

        async def watch(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if size <= MAX_TOKEN_RESPONSE:
                    chunks.append(body)
                    size += len(body)
                if not message.get("more_body", False) and size <= MAX_TOKEN_RESPONSE:
                    await self.door.answer(facts, match, TokenResponse(status, b"".join(chunks)))
            await send(message)

        await self.app(scope, receive, watch)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        engine = self.engine

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await engine.start()
            elif message["type"] == "lifespan.shutdown":
                await engine.close()
            return message

        return wrapped
