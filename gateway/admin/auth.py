"""Who is calling the admin app, and whether a change may be made from where it came.

A caller is an admin when it presents, as ``Authorization: Bearer``:
- a token from the configured issuer (verified by gateway.auth, as on the
  request path) that carries ``admin.scope``; the admin is its subject, or
- the configured shared secret (``admin.secret`` or the variable
  ``admin.secret_env``); the admin is ``secret``.

The console signs in with either, once, and then holds a session cookie
(HMAC-signed, HttpOnly, SameSite=Strict, ``admin.session_s`` long) that
carries the admin's name and a CSRF token. Every state-changing form posts
that token back, and every request that says it comes from another site
(Origin, Sec-Fetch-Site) is refused, whatever it carries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from gateway.auth import AuthError
from gateway.facts import RequestFacts

COOKIE = "gw_admin"


@dataclass(frozen=True, slots=True)
class Admin:
    who: str  # the token's subject, or "secret"
    via: str  # "token", "secret" or "session"
    csrf: str = ""  # the console session's CSRF token ("" for a bearer call: no ambient credential to forge)


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


class AdminAuth:
    def __init__(self, engine: Any) -> None:
        a = engine.settings.admin
        self.engine = engine
        self.scope = a.scope
        self.session_s = a.session_s
        found = a.secret or os.environ.get(a.secret_env)
        self.secret = found.encode() if found else None
        # sessions are signed with a key of this process: a restart signs everyone out
        self._key = secrets.token_bytes(32)

    async def bearer(self, value: str, now: float) -> Admin:
        """An admin from a bearer credential; Refused (401/403) otherwise."""
        if self.secret is not None and hmac.compare_digest(value.encode(), self.secret):
            return Admin("secret", "secret")
        facts = RequestFacts(ts=now, method="GET", path="/admin", peer="127.0.0.1",
                             headers={"authorization": f"Bearer {value}"})
        try:
            principal = await self.engine.auth.authenticate(facts)
        except AuthError as err:
            raise Refused(401, "unauthenticated", f"the token was refused: {err.description}") from None
        if self.scope not in (principal.scopes or ()):
            raise Refused(403, "scope", f"the token lacks the scope {self.scope}")
        return Admin(principal.subject, "token")

    def session_cookie(self, admin: Admin, now: float) -> tuple[str, Admin]:
        csrf = secrets.token_urlsafe(24)
        body = _b64(json.dumps({"who": admin.who, "via": admin.via, "exp": int(now + self.session_s), "csrf": csrf},
                               separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}", Admin(admin.who, "session", csrf)

    def from_cookie(self, value: str, now: float) -> Admin | None:
        body, _, mac = value.partition(".")
        if not body or not hmac.compare_digest(mac, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) <= now:
            return None
        return Admin(str(data["who"]), "session", str(data["csrf"]))

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cross_site(headers: Any, scheme: str, host: str) -> str | None:
    """Why a request comes from another site, or None when it does not say so.

    Browsers send Sec-Fetch-Site and, on POST, Origin; a command-line client
    sends neither (and carries no cookie, so nothing of its own can be forged).
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site}"
    origin = headers.get("origin")
    if origin is not None and origin != f"{scheme}://{host}":
        return f"Origin {origin} is not this console's"
    return None


def now() -> float:
    return time.time()
