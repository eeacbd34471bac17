"""Signed, expiring answer links: "this was me" and "this wasn't me".

A link is ``<base_url><path>?t=<token>``; the token is
``base64url(JSON claims) "." base64url(HMAC-SHA256(secret, "gw-link1." + claims part))``.
The answer is inside the signed claims, so one link cannot be turned into the
other; the gateway answers the link itself and never redirects anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import quote

WAS_ME, NOT_ME = "was_me", "not_me"
ANSWERS = (WAS_ME, NOT_ME)
MAX_TOKEN = 2048
_DOMAIN = b"gw-link1."


class LinkError(ValueError):
    """A link that is not ours, was altered, or expired; ``reason`` names which."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


@dataclass(frozen=True, slots=True)
class Link:
    answer: str
    account: str
    session: str
    client_id: str | None
    decision_ids: tuple[str, ...]
    expires: int
    rule: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: bytes, base_url: str, path: str, ttl_s: int) -> None:
        self._secret = secret
        self.url = base_url.rstrip("/") + path
        self.ttl_s = ttl_s

    def token(self, link: Link) -> str:
        claims = {"a": link.answer, "u": link.account, "s": link.session, "c": link.client_id,
                  "d": list(link.decision_ids[:8]), "e": link.expires, "r": link.rule}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return body + "." + _b64(self._mac(body))

    def links(self, account: str, session: str, client_id: str | None, decision_ids: list[str], rule: str,
              now: float) -> dict[str, object]:
        expires = int(now) + self.ttl_s
        out: dict[str, object] = {"expires": expires}
        for answer, name in ((WAS_ME, "this_was_me"), (NOT_ME, "this_wasnt_me")):
            token = self.token(Link(answer, account, session, client_id, tuple(decision_ids), expires, rule))
            out[name] = f"{self.url}?t={quote(token)}"
        return out

    def verify(self, token: str, now: float) -> Link:
        if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
            raise LinkError("malformed", "the link is not one of this gateway's answer links")
        body, mac = token.split(".")
        try:
            given = _unb64(mac)
        except (ValueError, TypeError):
            raise LinkError("malformed", "the link's signature is not readable") from None
        if not hmac.compare_digest(given, self._mac(body)):
            raise LinkError("signature", "the link's signature does not match; use the link exactly as sent")
        try:
            c = json.loads(_unb64(body))
            link = Link(c["a"], c["u"], c["s"], c.get("c"), tuple(c["d"]), int(c["e"]), c.get("r") or "")
        except (ValueError, TypeError, KeyError):
            raise LinkError("malformed", "the link's claims are not readable") from None
        if link.answer not in ANSWERS:
            raise LinkError("malformed", "the link names no known answer")
        if now >= link.expires:
            raise LinkError("expired", "the link has expired; the owner can still contact support")
        return link

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._secret, _DOMAIN + body.encode(), hashlib.sha256).digest()


def link_signer_or_none(n) -> LinkSigner | None:
    """The signer the config's notify.links describes, or None when links are off."""
    if not n.links.base_url:
        return None
    from gateway.notify.config_secret import secret

    return LinkSigner(secret(n.links.secret, n.links.secret_env, "notify.links.secret"), n.links.base_url,
                      n.links.path, n.links.ttl_s)
