"""How a verdict sounds on the wire: status, headers and body, for every front door.

Bodies never reveal rule internals: a stopped client learns the decision id
(to quote to support), a problem type per reason family and the operator's
sentence for it in the client's language (gateway.messages), nothing it could
tune against: no rule id, threshold or feature value.
"""

from __future__ import annotations

import functools
import json
import re

from gateway.messages.catalogue import Catalogue, default_catalogue
from gateway.messages.families import DEFAULT_REASON, REVOKED
from gateway.settings import Route
from gateway.verdict import Decision, Verdict

Headers = list[tuple[str, str]]

_PROBLEM = "application/problem+json"
_STEP_UP = (
    'Bearer realm="gateway", error="insufficient_user_authentication", '
    'error_description="A stronger authentication is required for this action"'
)


def render(verdict: Verdict, route: Route | None, dpop_algs: tuple[str, ...] = (), accept_language: str | None = None,
           messages: Catalogue | None = None) -> tuple[int, Headers, bytes] | None:
    """The response a front door sends instead of calling the app, or None when the request passes.

    ``accept_language`` picks the catalogue's locale (``messages``: the config's, else the shipped one).
    """
    if verdict.passes:
        return None
    d = verdict.decision
    ident = [("x-gateway-decision-id", verdict.decision_id), ("content-type", _PROBLEM)]
    if d is Decision.UNAUTHENTICATED:
        challenge = www_authenticate(verdict.auth_error, verdict.auth_error_description, dpop_algs)
        headers = [("www-authenticate", challenge), ("cache-control", "no-store"), *ident]
        if verdict.reason == REVOKED:
            return 401, headers, _explained(401, verdict, REVOKED, accept_language, messages)
        return 401, headers, _problem(401, "Unauthorized", "A valid access token is required.", verdict.decision_id)
    if d is Decision.BLOCK:
        return 403, ident, _explained(403, verdict, verdict.reason, accept_language, messages)
    if d is Decision.THROTTLE:
        retry = str(verdict.retry_after or 60)
        return 429, [("retry-after", retry), *ident], _explained(429, verdict, verdict.reason, accept_language, messages)
    if d is Decision.CHALLENGE:
        # RFC 9470 step-up: the client must come back with a stronger authentication.
        return 401, [("www-authenticate", _STEP_UP), ("cache-control", "no-store"), *ident], _explained(
            401, verdict, verdict.reason, accept_language, messages)
    if d is Decision.ABSORB:
        # Answer as the app would on success, without calling it: the abuser
        # cannot tell. The cost: the client is misled, so use it only where the
        # evidence is strong. No decision header: it would give the game away.
        status = route.absorb_status if route else 200
        body = (route.absorb_body if route else '{"status": "ok"}').encode()
        return status, [("content-type", "application/json")], body
    return None


def www_authenticate(error: str | None, description: str | None = None, dpop_algs: tuple[str, ...] = (),
                     realm: str = "gateway") -> str:
    """The WWW-Authenticate value of a 401: a Bearer challenge (RFC 6750 section 3: no error code
    when no token was sent) and, where DPoP is on, a DPoP one (RFC 9449 section 7.1), which
    carries the error when it is the proof that failed."""
    realm_part = f'realm="{_quote(realm)}"'
    offer = f'algs="{" ".join(dpop_algs)}"'
    bearer, dpop = f"Bearer {realm_part}", f"DPoP {realm_part}, {offer}" if dpop_algs else ""
    if error:
        error_part = f'error="{_quote(error)}", error_description="{_quote(description or "")}"'
        if dpop and error == "invalid_dpop_proof":  # the proof failed, not the token
            dpop = f"DPoP {realm_part}, {error_part}, {offer}"
        else:
            bearer += ", " + error_part
    return f"{bearer}, {dpop}" if dpop else bearer


# RFC 6750 section 3: what a realm and an error_description may hold.
_UNSAFE_IN_QUOTES = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _quote(text: str, limit: int = 200) -> str:
    """A value safe inside a WWW-Authenticate quoted string: no quotes, backslashes or control bytes."""
    text = text.replace('"', "'").replace("\\", "/")
    return _UNSAFE_IN_QUOTES.sub("?", text)[:limit]


_STATUS = {Decision.UNAUTHENTICATED: 401, Decision.BLOCK: 403, Decision.THROTTLE: 429, Decision.CHALLENGE: 401}


def status_of(verdict: Verdict, route: Route | None) -> int | None:
    """The status ``render`` answers with, without building its body; None when the request passes to the app."""
    if verdict.passes:
        return None
    if verdict.decision is Decision.ABSORB:
        return route.absorb_status if route else 200
    return _STATUS.get(verdict.decision)


def _explained(status: int, verdict: Verdict, family: str | None, accept_language: str | None,
               messages: Catalogue | None) -> bytes:
    """RFC 9457 problem details with the reason family's type and the catalogue's words in the client's language."""
    catalogue = messages or default_catalogue()
    problem = catalogue.problem(family or DEFAULT_REASON.get(verdict.decision.value) or "third_party_app",
                                accept_language, verdict.decision_id, verdict.retry_after)
    return json.dumps({"type": problem.type, "title": problem.title, "status": status, "detail": problem.detail,
                       "decision_id": verdict.decision_id}, ensure_ascii=False).encode()


def _problem(status: int, title: str, detail: str, decision_id: str) -> bytes:
    # RFC 9457 problem details; "about:blank" says the status code is the whole story.
    # Byte for byte json.dumps of the whole object; the fixed part is serialised once.
    return (_problem_head(status, title, detail) + json.dumps(decision_id) + "}").encode()


@functools.cache
def _problem_head(status: int, title: str, detail: str) -> str:
    fixed = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return fixed[:-1] + ', "decision_id": '
