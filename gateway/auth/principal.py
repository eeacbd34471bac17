"""Who is acting: a verified token, and the ways verification fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # the account
    session_id: str  # the session claim, or a stable hash of the token when it has none
    client_id: str | None  # the client/app the token was issued to
    device_id: str | None  # the device claim, if any
    issued_at: float | None  # iat
    expires_at: float | None  # exp
    kind: str  # "jwt" or "opaque"
    token_hash: str  # SHA-256 hex of the raw token
    claims: Mapping[str, object] = field(default_factory=dict)
    bound_jkt: str | None = None  # cnf.jkt: the token is DPoP-bound to this key thumbprint
    dpop_valid: bool | None = None  # None: not bound; True/False: proof checked
    scopes: tuple[str, ...] | None = None  # the granted OAuth scopes (scope or scp claim); None: the token names none


class AuthError(Exception):
    """Authentication failed. ``reason`` labels the metric; ``error`` is the RFC 6750 code."""

    def __init__(self, reason: str, description: str, error: str = "invalid_token") -> None:
        super().__init__(description)
        self.reason = reason  # short metric label: missing, malformed, expired, signature, ...
        self.error = error  # invalid_request | invalid_token (RFC 6750 section 3.1); "" when no token was sent (or another scheme)
        self.description = description
