"""Who is acting: a verified token, and the ways verification fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        """The principal as JSON values, without the token (only its hash); ``from_dict`` reads it back."""
        return {"subject": self.subject, "session_id": self.session_id, "client_id": self.client_id,
                "device_id": self.device_id, "issued_at": self.issued_at, "expires_at": self.expires_at,
                "kind": self.kind, "token_hash": self.token_hash, "claims": dict(self.claims),
                "bound_jkt": self.bound_jkt, "dpop_valid": self.dpop_valid,
                "scopes": list(self.scopes) if self.scopes is not None else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Principal:
        """The principal ``to_dict`` wrote; what a record lacks takes its default (subject and session_id
        are required: KeyError without them)."""
        scopes = d.get("scopes")
        return cls(d["subject"], d["session_id"], d.get("client_id"), d.get("device_id"), d.get("issued_at"),
                   d.get("expires_at"), d.get("kind", "jwt"), d.get("token_hash", ""), d.get("claims") or {},
                   d.get("bound_jkt"), d.get("dpop_valid"), tuple(scopes) if scopes is not None else None)


class AuthError(Exception):
    """Authentication failed. ``reason`` labels the metric; ``error`` is the RFC 6750 code."""

    def __init__(self, reason: str, description: str, error: str = "invalid_token") -> None:
        super().__init__(description)
        self.reason = reason  # short metric label: missing, malformed, expired, signature, ...
        self.error = error  # invalid_request | invalid_token (RFC 6750 section 3.1); "" when no token was sent (or another scheme)
        self.description = description
