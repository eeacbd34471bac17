"""Session birth when the token response is not seen: ``POST /sessions`` from the auth server.

Behind ``auth_request`` the gateway never sees the token endpoint's answer,
so it cannot learn where a session was born. The auth server (or a proxy
mirroring its responses) posts one JSON object per issued token::

    {"access_token": "...", "client_ip": "203.0.113.7", "user_agent": "...",
     "device_id": "...", "tls": "..."}

with the shared secret in ``forward_auth.sessions_secret_header``. The gateway
verifies the token exactly as at the token endpoint and records the birth
as the token endpoint's answer would (``FrontDoor.answer``). The notifier must be in
``network.trusted_proxies``: like any proxy, it vouches for the client's
address, device id and TLS fingerprint.

Without notifications the signals fall back to first-use provenance: the
first request that presents a session is taken as its birth.
"""

from __future__ import annotations

import hmac
import json
import os

from starlette.types import Receive, Scope, Send

from gateway.auth import AuthError
from gateway.fingerprint.client_ip import ClientIP, parse_ip
from gateway.frontdoors.asgi import BodyTooLarge, ClientGone, read_body, send_problem, send_response
from gateway.frontdoors.door import TOKEN_ENDPOINT, FrontDoor, TokenResponse

MAX_NOTIFICATION_BYTES = 16 * 1024
_FIELDS = {"access_token", "client_ip", "user_agent", "device_id", "tls"}


class SessionNotifications:
    def __init__(self, door: FrontDoor) -> None:
        settings = door.engine.settings
        fa = settings.forward_auth
        self.door = door
        self.engine = door.engine
        secret = fa.sessions_secret or os.environ.get(fa.sessions_secret_env) or ""
        self._secret = secret.encode()
        self._secret_header = fa.sessions_secret_header
        self._secret_hint = f"forward_auth.sessions_secret or the {fa.sessions_secret_env} environment variable"
        self._trusted = ClientIP(settings.network.trusted_proxies, settings.network.forwarded_header)
        self._forward_header = settings.network.forwarded_header
        self._token_path = settings.token_endpoint.path if settings.token_endpoint else "/oauth/token"
        self._device_header = settings.network.device_header
        self._tls_header = settings.network.tls_header

    async def handle(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        if not self._secret:
            return await send_problem(send, 403, "Forbidden", f"session notifications are off; set {self._secret_hint}")
        given = headers.get(self._secret_header, "").encode("latin-1")
        if not hmac.compare_digest(given, self._secret):
            return await send_problem(send, 403, "Forbidden", f"the {self._secret_header} header does not hold the shared secret")
        client = scope.get("client")
        peer = client[0] if client else ""
        peer_ip = parse_ip(peer) if peer else None
        if peer_ip is None or not self._trusted.is_trusted(peer_ip):
            return await send_problem(
                send, 403, "Forbidden", f"the notifier {peer or 'unknown'} is not in network.trusted_proxies; add its address"
            )
        try:
            body = await read_body(receive, MAX_NOTIFICATION_BYTES)
        except BodyTooLarge:
            return await send_problem(send, 413, "Content Too Large", f"a notification is at most {MAX_NOTIFICATION_BYTES} bytes")
        except ClientGone:
            return
        try:
            note = parse_notification(body)
        except ValueError as exc:
            return await send_problem(send, 400, "Bad session notification", str(exc))
        now = self.engine.clock()
        try:
            principal = self.engine.auth.verify_issued(note["access_token"], now)
        except AuthError as err:
            return await send_problem(send, 422, "Unverifiable token", f"access_token: {err.description}")
        facts = self.door.facts(now, TOKEN_ENDPOINT, "POST", self._token_path, peer, self._headers(note))
        token_response = json.dumps({"access_token": note["access_token"], "token_type": "Bearer"}).encode()
        await self.door.answer(facts, TOKEN_ENDPOINT, TokenResponse(200, token_response))
        await send_response(send, 202, [("content-type", "application/json")],
                            json.dumps({"recorded": True, "session": principal.session_id}).encode())

    def _headers(self, note: dict[str, str]) -> dict[str, str]:
        ip = note["client_ip"]
        headers = {self._forward_header: ip if self._forward_header != "forwarded" else f'for="{ip}"'}
        for field, name in (("user_agent", "user-agent"), ("device_id", self._device_header), ("tls", self._tls_header)):
            if note.get(field):
                headers[name] = note[field]
        return headers


def parse_notification(body: bytes) -> dict[str, str]:
    """The notification's fields, checked; ValueError names the field and what it should be."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the stack
        raise ValueError("the body must be a JSON object, e.g. {\"access_token\": \"...\", \"client_ip\": \"203.0.113.7\"}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; known fields: {', '.join(sorted(_FIELDS))}")
    for name in _FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    if not data.get("access_token"):
        raise ValueError("access_token: required (the token the auth server just issued)")
    ip = parse_ip(data.get("client_ip") or "")
    if ip is None:
        raise ValueError("client_ip: required, an IP address (the address the token was requested from)")
    data["client_ip"] = str(ip)
    return data
