"""The one way every front door goes through the engine.

A front door (the middleware and the reverse proxy on it, forward auth,
replay) only translates. Its transport in: an ASGI scope, a forward-auth
check or a replay record becomes a route match (``FrontDoor.match``) and
``RequestFacts`` (``FrontDoor.facts``, the one place they are built). Then
``FrontDoor.answer``: at the token endpoint it records the session's birth
from the app's response; on a protected route it decides and says what the
client gets (``Answer``). Its answer back out: the app's response, or the
gateway's status, headers and problem+json body (``responses.render``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.frontdoors.responses import Headers, render, status_of
from gateway.routes import TOKEN_ACTION, Match
from gateway.settings import Route
from gateway.verdict import Verdict

TOKEN_ENDPOINT = Match(None, TOKEN_ACTION, None)  # the match of a token-endpoint answer that comes by another way


class TokenResponse(NamedTuple):
    """The token endpoint's answer to the client, from which the session's birth is recorded."""

    status: int
    body: bytes


class Answer(NamedTuple):
    """What the client gets: the app's response (``status`` None) or the gateway's own.

    ``verdict`` is None when nothing was decided (the token endpoint).
    ``response`` is the gateway's whole answer, (status, headers, body), when
    it answers itself and the door renders (replay reads only the status).
    """

    verdict: Verdict | None
    status: int | None
    response: tuple[int, Headers, bytes] | None = None


PASS = Answer(None, None)  # nothing to decide: the app answers
_answer = tuple.__new__  # an Answer without NamedTuple's Python-level __new__: it is built on every request


class FrontDoor:
    """The engine as every front door calls it. ``render=False`` (replay): answers carry the status only."""

    def __init__(self, engine: Engine, *, render: bool = True) -> None:
        self.engine = engine
        self.match = engine.match
        dpop = engine.settings.auth.dpop
        self._dpop_algs = dpop.algorithms if dpop.enabled else ()
        self._render = render

    @staticmethod
    def facts(ts: float, match: Match | None, method: str, path: str, peer: str, headers: Mapping[str, str],
              query: str = "", scheme: str | None = None, body: bytes = b"", request_id: str | None = None
              ) -> RequestFacts:
        """The request as the engine sees it: the route's action and target from ``match`` (none at the token
        endpoint, none without a match); ``scheme`` is the one the client used, where the door knows it."""
        if match is None or match.route is None:
            action = target = None
        else:
            action, target = match.action, match.target
        if scheme is None:
            return RequestFacts(ts, method, path, peer, headers, action, target, query, body, request_id)
        return RequestFacts(ts, method, path, peer, headers, action, target, query, body, request_id,
                            {"scheme": scheme})

    async def answer(self, facts: RequestFacts, match: Match, response: TokenResponse | None = None) -> Answer:
        """The token endpoint: record the birth from the app's ``response`` (when there is one). A protected
        route: decide, and say what the client gets. Never raises for a request (the engine passes on a fault)."""
        route = match.route
        if route is None:
            if response is not None:
                await self.engine.observe_response(facts, response.status, response.body)
            return PASS
        verdict = await self.engine.decide(facts)  # looked up per call: benches and tests wrap it
        if verdict.passes:
            return _answer(Answer, (verdict, None, None))
        status = status_of(verdict, route)
        if not self._render:
            return _answer(Answer, (verdict, status, None))
        return Answer(verdict, status, self.render(verdict, route, facts.headers.get("accept-language")))

    def render(self, verdict: Verdict, route: Route | None, accept_language: str | None) -> tuple[int, Headers, bytes]:
        """The gateway's answer for a verdict that does not pass, in the client's language."""
        rendered = render(verdict, route, self._dpop_algs, accept_language, self.engine.messages)
        if rendered is None:
            raise ValueError(f"verdict {verdict.decision_id} passes: the app answers, not the gateway")
        return rendered
