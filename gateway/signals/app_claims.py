"""App features: which described app the User-Agent claims, at which version, and whether the client is known."""

from __future__ import annotations

from gateway.fingerprint.fingerprint import Fingerprint


def app_features(fp: Fingerprint, client: str | None, registered: frozenset[str], server_side: frozenset[str],
                 out: dict) -> None:
    """Add ua.app, ua.app_version, app.version_age, app.version_impossible, client.registered and
    app.server_side to ``out``."""
    if client:
        out["client.registered"] = client in registered
        out["app.server_side"] = client in server_side
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
