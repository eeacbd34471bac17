"""Checks shared by every kind of token: times on the request's clock, issuer, audience, and the Principal.

JWTs and introspection answers both come through here, so a claim of the wrong
type is refused the same way whichever path brought it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from gateway.auth.principal import AuthError, Principal
from gateway.numbers import finite_number
from gateway.settings import Auth, Claims

# A NumericDate (RFC 7519 section 2) from the epoch to the last second of year
# 9999, the end of Python's datetime. Past it no issuer means a date: an exp of
# 1e300 would be a token (and a cache entry) that never expires.
_LATEST_DATE = 253_402_300_799.0


def _json_kind(value: object) -> str:
    """What JSON type a claim holds, for a message that names it without quoting it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim: absent, or a finite number in range. Anything else refuses the token."""
    if name not in claims:
        return None
    value = claims[name]
    number = finite_number(value)
    if number is None:
        kind = _json_kind(value)  # "a number" here is NaN, Infinity or an integer past a float's range
        what = "not a finite number" if kind == "a number" else f"{kind}, not a number"
        raise AuthError("claims", f"the token's '{name}' claim is {what}: a NumericDate is seconds since the epoch")
    if not 0 <= number <= _LATEST_DATE:
        raise AuthError(
            "claims", f"the token's '{name}' claim is out of range: a NumericDate runs from 0 to {_LATEST_DATE:.0f} (year 9999)"
        )
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


def _string(claims: Mapping[str, Any], name: str, role: str) -> str | None:
    """A StringOrURI claim (RFC 7519 section 2): absent, empty, or its text. Another type refuses the token."""
    if name not in claims:
        return None
    value = claims[name]
    if not isinstance(value, str):
        raise AuthError("claims", f"the token's '{name}' claim (the {role}) is {_json_kind(value)}, not a string")
    return value or None


def _mapped(claims: Mapping[str, Any], names: Claims) -> dict[str, str | None]:
    """Every claim the config maps, by role: each one is checked, whichever the Principal reads."""
    return {f.name: _string(claims, getattr(names, f.name), f.name) for f in dataclasses.fields(names)}


def _bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """cnf.jkt (RFC 9449 section 6): a malformed binding refuses the token rather than leaving it unbound."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict):
        raise AuthError("claims", f"the token's 'cnf' claim is {_json_kind(cnf)}, not an object")
    if "jkt" not in cnf:
        return None  # another confirmation method (e.g. an mTLS certificate), not DPoP
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        kind = "an empty string" if jkt == "" else _json_kind(jkt)
        raise AuthError("claims", f"the token's 'cnf.jkt' (its DPoP key thumbprint) is {kind}, not a thumbprint")
    return jkt


def _scopes(claims: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The granted scopes: ``scope`` (RFC 8693 section 4.2, RFC 9068, RFC 7662), else ``scp``; each either
    space-separated in one string or a list of names, as issuers differ. None when the token names no scope."""
    for name in ("scope", "scp"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, str):
            return tuple(dict.fromkeys(value.split()))
        if isinstance(value, list) and all(isinstance(s, str) for s in value):
            return tuple(dict.fromkeys(part for s in value for part in s.split()))
        raise AuthError("claims", f"the token's '{name}' claim is {_json_kind(value)}, not scope names "
                                  "(a space-separated string or a list of strings)")
    return None


def build_principal(claims: Mapping[str, Any], auth: Auth, *, kind: str, token_hash: str) -> Principal:
    """The Principal for verified claims, using the claim names the config names."""
    mapped = _mapped(claims, auth.claims)
    subject = mapped["subject"]
    if subject is None:
        raise AuthError("claims", f"the token has no '{auth.claims.subject}' claim naming the account")
    return Principal(
        subject=subject,
        session_id=mapped["session"] or "tok:" + token_hash[:16],
        client_id=mapped["client"],
        device_id=mapped["device"],
        issued_at=finite_number(claims.get("iat")),
        expires_at=finite_number(claims.get("exp")),
        kind=kind,
        token_hash=token_hash,
        claims=dict(claims),
        bound_jkt=_bound_jkt(claims),
        scopes=_scopes(claims),
    )
