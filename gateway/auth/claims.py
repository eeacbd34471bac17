"""Checks shared by every kind of token: times on the request's clock, issuer, audience, and the Principal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gateway.auth.principal import AuthError, Principal
from gateway.numbers import finite_number
from gateway.settings import Auth


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    number = finite_number(value)
    if number is None:
        raise AuthError("claims", f"the token's '{name}' claim is not a number (seconds since the epoch)")
    return number


def check_times(claims: Mapping[str, Any], now: float, leeway: float, *, require_exp: bool) -> tuple[float, float]:
    """Check exp/nbf/iat against ``now`` (the request's clock, not wall time).

    Returns (valid_from, valid_until): the span of request times on which the
    same checks would pass, so a cache never serves the token outside it.
    valid_until is exp itself: the leeway lets a request through, it does not
    extend a cache entry.
    """
    exp = _number(claims, "exp")
    nbf = _number(claims, "nbf")
    iat = _number(claims, "iat")
    if exp is None:
        if require_exp:
            raise AuthError("claims", "the token has no 'exp' claim; access tokens must expire")
    elif now > exp + leeway:
        raise AuthError("expired", "the token has expired")
    if nbf is not None and now < nbf - leeway:
        raise AuthError("not_yet_valid", "the token is not valid yet (nbf is in the future)")
    if iat is not None and now < iat - leeway:
        raise AuthError("not_yet_valid", "the token was issued in the future (iat); check the issuer's clock")
    valid_from = max(nbf if nbf is not None else -math.inf, iat if iat is not None else -math.inf) - leeway
    return valid_from, exp if exp is not None else math.inf


def check_issuer_audience(claims: Mapping[str, Any], issuer: str | None, audience: str | None) -> None:
    if issuer is not None and claims.get("iss") != issuer:
        raise AuthError("issuer", "the token was not issued by the expected issuer")
    if audience is not None:
        aud = claims.get("aud")
        if not (aud == audience or (isinstance(aud, list) and audience in aud)):
            raise AuthError("audience", "the token is not meant for this API (aud)")


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    return None


def build_principal(claims: Mapping[str, Any], auth: Auth, *, kind: str, token_hash: str) -> Principal:
    """The Principal for verified claims, using the claim names the config names."""
    names = auth.claims
    subject = _text(claims, names.subject)
    if subject is None:
        raise AuthError("claims", f"the token has no '{names.subject}' claim naming the account")
    session = _text(claims, names.session) or "tok:" + token_hash[:16]
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return Principal(
        subject=subject,
        session_id=session,
        client_id=_text(claims, names.client),
        device_id=_text(claims, names.device),
        issued_at=finite_number(claims.get("iat")),
        expires_at=finite_number(claims.get("exp")),
        kind=kind,
        token_hash=token_hash,
        claims=dict(claims),
        bound_jkt=jkt if isinstance(jkt, str) and jkt else None,
    )
