"""App features: which described app the User-Agent claims, at which version, and whether the client is known."""

from __future__ import annotations

from gateway.fingerprint.fingerprint import Fingerprint


def app_features(fp: Fingerprint, client: str | None, registered: frozenset[str], out: dict) -> None:
    """Add ua.app, ua.app_version, app.version_age, app.version_impossible and client.registered to ``out``."""
    if client:
        out["client.registered"] = client in registered
    info = fp.ua_info
    if info is None or info.app is None:
        return
    out["ua.app"] = info.app
    if info.version is not None:
        out["ua.app_version"] = info.version
    if info.version_age is not None:
        out["app.version_age"] = info.version_age
    if info.version_impossible is not None:
        out["app.version_impossible"] = info.version_impossible
