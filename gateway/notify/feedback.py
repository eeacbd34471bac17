"""The owner's answer to an event: a signed link, POSTed with a token of the same account.

``this was me`` (from another of the owner's sessions, never the flagged one):
the verdict is labelled a false positive, the sticky decisions are lifted on
every replica (the account's is overwritten with an expired one) and the
flagged session (that account with that app) is let through for
``notify.links.exception_s`` (an ``allow`` pinned on it, which outranks every
other sticky decision). ``this wasn't me``: the verdict is labelled confirmed.
Both are counted (gateway_owner_answers_total) and audit-logged; labels go to
``notify.labels``, one JSON line per decision id (``gateway replay --labels``).
A GET only describes the link: an e-mail scanner opening it changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from gateway.auth import AuthError
from gateway.metrics import FEEDBACK
from gateway.notify.links import WAS_ME, Link, LinkError, link_signer_or_none
from gateway.state.keys import ACCOUNT_PREFIX, SESSION_PREFIX, Pin, safe
from gateway.state.store import Stick

audit = logging.getLogger("gateway.audit")
FALSE_POSITIVE, CONFIRMED = "false_positive", "confirmed"
LIFTED_BY = "owner-answer"  # the rule id the lifted sticky decisions carry
_JSON = [("content-type", "application/json"), ("cache-control", "no-store")]
_lock = threading.Lock()


class Feedback:
    def __init__(self, engine) -> None:
        self.engine = engine
        n = engine.settings.notify
        self.links = link_signer_or_none(n)
        self.exception_s = n.links.exception_s
        self.labels = Path(engine.settings.resolve(n.labels)) if n.labels else None

    async def answer(self, facts) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.links is None:
            return _reply(404, "not_found", "answer links are not configured")
        try:
            token = (parse_qs(facts.query, max_num_fields=4).get("t") or [""])[0]
        except ValueError:  # more fields than a link has
            return _reply(400, "link_malformed", "the link has more query fields than a gateway link; use the link as sent")
        now = self.engine.clock()
        try:
            link = self.links.verify(token, now)
        except LinkError as err:
            FEEDBACK.labels(answer="unknown", outcome=err.reason).inc()
            return _reply(410 if err.reason == "expired" else 400, f"link_{err.reason}", err.description)
        if facts.method == "GET":
            return 200, _JSON, json.dumps({"answer": link.answer, "account": link.account, "expires": link.expires,
                                           "how": "POST this URL with a token of the account"}).encode()
        try:
            principal = await self.engine.auth.authenticate(facts)
        except AuthError as err:
            FEEDBACK.labels(answer=link.answer, outcome="unauthenticated").inc()
            return _reply(401, err.error or "invalid_token", "answer with a valid token of the account")
        if principal.subject != link.account:
            FEEDBACK.labels(answer=link.answer, outcome="wrong_account").inc()
            return _reply(403, "wrong_account", "this link is for another account")
        if link.answer == WAS_ME and principal.session_id == link.session:
            FEEDBACK.labels(answer=link.answer, outcome="same_session").inc()
            return _reply(403, "same_session", "answer from your own device, not from the flagged session")
        notifier = self.engine.notifier
        once = f"answer:{link.decision_ids[0] if link.decision_ids else link.session}"
        if notifier is not None and not await notifier.first(link.account, once, now, max(1.0, link.expires - now)):
            FEEDBACK.labels(answer=link.answer, outcome="already_answered").inc()  # a link answers once
            return _reply(409, "already_answered", "this notice was already answered")
        if link.answer == WAS_ME:
            await self._lift(link, now)
        label = FALSE_POSITIVE if link.answer == WAS_ME else CONFIRMED
        await asyncio.to_thread(self._label, link, label, principal.session_id, now)  # a file write: off the loop
        FEEDBACK.labels(answer=link.answer, outcome="recorded").inc()
        return 200, _JSON, json.dumps({"recorded": label, "decision_ids": list(link.decision_ids)}).encode()

    async def _lift(self, link: Link, now: float) -> None:
        until = now + self.exception_s
        ops = [Stick(SESSION_PREFIX + safe(link.session), Pin("allow", LIFTED_BY, until).encode(), until),
               Stick(ACCOUNT_PREFIX + safe(link.account), Pin("allow", LIFTED_BY, now).encode(), now)]
        result = await self.engine.store.exchange(ops, now)
        if result.degraded:  # the local fallback has it; the shared state will when Redis is back
            audit.warning("owner answer for session %s lifted on local state only", link.session)

    def _label(self, link: Link, label: str, answered_from: str, now: float) -> None:
        lines = [json.dumps({"decision_id": d, "label": label, "answer": link.answer, "account": link.account,
                             "session": link.session, "client_id": link.client_id, "rule": link.rule, "ts": now,
                             "answered_from": answered_from, "recorded_at": time.time()}) for d in link.decision_ids]
        for line in lines:
            audit.info("owner answer: %s", line)
        if self.labels is None:
            return
        try:
            with _lock, self.labels.open("a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
        except OSError as exc:
            audit.error("cannot write the labels file %s (%s)", self.labels, exc.strerror)


def _reply(status: int, error: str, description: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, _JSON, json.dumps({"error": error, "error_description": description}).encode()
