"""TLS client fingerprints (JA4, or JA3) and whether they fit the client the User-Agent claims.

An edge proxy computes the fingerprint of the TLS ClientHello and passes it in
a header (settings.network.tls_header). A credential-sharing tool can copy the
app's User-Agent in one line, but its TLS stack is Python's, Go's or curl's:
the fingerprint betrays it.

There is no built-in table: fingerprints are measured at each platform's
edge. The config gives them two ways:

- ``apps.clients[].tls``: per app, per platform, the fingerprints its stack
  presents. One fingerprint may be listed on several platforms (an iOS app
  on the system stack presents Safari's). A web platform's stacks are browsers.
- ``apps.tls_platforms``: fingerprint -> ``android``, ``ios``, ``browser`` or
  ``library``, for stacks that are no described app (browsers, HTTP libraries).
"""

from __future__ import annotations

from gateway.fingerprint.user_agent import UserAgentInfo
from gateway.settings import Apps

MAX_FINGERPRINT_CHARS = 256  # longer header values are not fingerprints and are ignored
APP_STACKS = ("android", "ios")


def clean_fingerprint(value: str | None) -> str | None:
    """The fingerprint from a header value: trimmed, lower-cased; None when empty or too long."""
    if not value:
        return None
    value = value.strip().lower()
    if not value or len(value) > MAX_FINGERPRINT_CHARS:
        return None
    return value


def _stack_label(platform: str) -> str:
    return "browser" if platform == "web" else platform


class TLSTable:
    """Fingerprint -> the stack platforms it is known on; app -> platform -> its fingerprints."""

    def __init__(self, apps: Apps | None = None) -> None:
        labels: dict[str, list[str]] = {}
        stacks: dict[str, dict[str, frozenset[str]]] = {}
        for app in apps.clients if apps else ():
            per_platform = {}
            for platform, prints in app.tls.items():
                cleaned = frozenset(p.strip().lower() for p in prints)
                per_platform[platform] = cleaned
                for fingerprint in sorted(cleaned):
                    labels.setdefault(fingerprint, []).append(_stack_label(platform))
            stacks[app.name] = per_platform
        for fingerprint, platform in (apps.tls_platforms if apps else {}).items():
            labels.setdefault(fingerprint.strip().lower(), []).insert(0, platform)  # the operator's word first
        self._labels = {fp: tuple(dict.fromkeys(names)) for fp, names in labels.items()}
        self._stacks = stacks

    def labels(self, fingerprint: str | None) -> tuple[str, ...]:
        """The stack platforms a cleaned fingerprint is known on; () when absent or unknown."""
        if fingerprint is None:
            return ()
        return self._labels.get(fingerprint, ())

    def platform(self, fingerprint: str | None) -> str | None:
        """The first stack platform of a cleaned fingerprint; None when absent or not in the table."""
        found = self.labels(fingerprint)
        return found[0] if found else None

    def judge(self, fingerprint: str | None, labels: tuple[str, ...], ua: UserAgentInfo) -> tuple[str | None, bool | None]:
        """(tls.platform, tls.consistent) of a fingerprint under what the User-Agent claims."""
        if fingerprint is None:
            return None, None
        if ua.family == "app" and ua.app is not None:
            own = self._stacks.get(ua.app)
            if own:
                listed = own.get(ua.platform)
                if listed is not None:
                    fits = fingerprint in listed
                    return (ua.platform if fits else (labels[0] if labels else None)), fits
                if ua.platform == "unknown":  # a malformed claim: the app's stacks on any platform
                    fits = any(fingerprint in prints for prints in own.values())
                    return (labels[0] if labels else None), fits
        platform = ua.platform if ua.platform in labels else (labels[0] if labels else None)
        return platform, tls_consistent(labels, ua.family, ua.platform)

    def __len__(self) -> int:
        return len(self._labels)


def tls_consistent(labels: tuple[str, ...], ua_family: str, ua_platform: str) -> bool | None:
    """Whether a stack known on ``labels`` is one the claimed client would use; None when it cannot be told.

    Used where the claimed app has no fingerprints of its own for the platform:

    - no fingerprint, or one not in the table: None
    - an app claim needs the app stack of the claimed platform (android/ios);
      a library or browser stack, or the other platform's stack, is inconsistent
    - a browser claim needs a browser stack
    - automation drives real browsers: a browser stack is consistent, others are not
    - an http-library claim is honest about being a library: only a stack
      known as a browser's alone is inconsistent (an iOS app's system stack is Safari's too)
    - an unknown User-Agent claims nothing: None
    """
    if not labels:
        return None
    if ua_family == "app":
        if ua_platform not in APP_STACKS:
            return None if any(label in APP_STACKS for label in labels) else False
        return ua_platform in labels
    if ua_family in ("browser", "automation"):
        return "browser" in labels
    if ua_family == "http-library":
        return any(label != "browser" for label in labels)
    return None
