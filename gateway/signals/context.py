"""Context features: what this request alone says (no state)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.auth.principal import Principal
from gateway.facts import RequestFacts
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.signals.travel import ANONYMIZING


def context_features(facts: RequestFacts, principal: Principal, fp: Fingerprint, device_id: str | None,
                     third_party: frozenset[str], first_party: frozenset[str],
                     action_scopes: Mapping[str, str] | None = None) -> dict:
    out: dict = {
        "account.id": principal.subject,
        "token.kind": principal.kind,
        "token.bound": principal.bound_jkt is not None,
        "net.ip": fp.ip,
        "net.prefix": fp.prefix,
        "net.class": fp.net_class,
        "net.anonymizer": fp.net_class in ANONYMIZING,
        "net.residential_proxy": fp.residential_proxy,
        "ua.family": fp.ua_family,
        "ua.platform": fp.ua_platform,
        "ua.official_app": fp.ua_official_app,
        "headers.missing": fp.headers_missing,
    }
    if facts.action is not None:
        out["action"] = facts.action
    if facts.target is not None:
        out["target"] = facts.target
    client = principal.client_id
    if client:
        out["client_id"] = client
        out["app.third_party"] = client in third_party
        out["app.first_party"] = client in first_party
    if principal.issued_at is not None:
        age = facts.ts - principal.issued_at
        out["token.age_s"] = age if age > 0.0 else 0.0
    if principal.dpop_valid is not None:
        out["token.dpop_valid"] = principal.dpop_valid
    scopes = principal.scopes
    if scopes is not None:
        out["token.scopes"] = list(scopes)
        # A token that names no scopes says nothing about them: the scope features stay absent for it.
        needed = action_scopes.get(facts.action) if action_scopes and facts.action is not None else None
        if needed is not None:
            ok = needed in scopes
            out["token.scope_ok"] = ok
            if client:
                out["app.out_of_scope"] = not ok and client in third_party
    if fp.asn is not None:
        out["net.asn"] = fp.asn
    if fp.as_org:
        out["net.as_org"] = fp.as_org
    if fp.country:
        out["net.country"] = fp.country
    if fp.tls:
        out["tls.fingerprint"] = fp.tls
    if fp.tls_platform:
        out["tls.platform"] = fp.tls_platform
    if fp.tls_consistent is not None:
        out["tls.consistent"] = fp.tls_consistent
    if device_id:
        out["device.id"] = device_id
    return out
