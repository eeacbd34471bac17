"""TLS client fingerprints (JA4, or JA3) and whether they fit the client the User-Agent claims.

An edge proxy computes the fingerprint of the TLS ClientHello and passes it in
a header (settings.network.tls_header). A credential-sharing tool can copy the
app's User-Agent in one line, but its TLS stack is Python's, Go's or curl's:
the fingerprint betrays it.

The built-in table maps fingerprints to a stack platform:

- ``android``: the platform's Android app networking stack
- ``ios``: the platform's iOS app networking stack
- ``browser``: a web browser
- ``library``: an HTTP library or command-line tool

The values in KNOWN_TLS are EXAMPLES, invented in the JA4 format for the demo,
the simulator and the tests; they are not measurements of real clients.
Operators measure their own apps' and common clients' fingerprints at the edge
and list them under ``apps.tls_platforms`` (fingerprint -> platform), which
extends and overrides this table.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.settings import ConfigError

TLS_PLATFORMS = ("android", "ios", "browser", "library")
MAX_FINGERPRINT_CHARS = 256  # longer header values are not fingerprints and are ignored

# Stack name -> an example JA4 fingerprint (invented, see the module docstring).
KNOWN_TLS: dict[str, str] = {
    "android_app": "t13d1715h2_5b57614c22b0_93c746dc12af",
    "ios_app": "t13d2014h2_a09f3c656075_e42f34c56612",
    "chrome_desktop": "t13d1516h2_8daaf6152771_02713d6af862",
    "safari": "t13d2013h2_a09f3c656075_14788d8d241b",
    "firefox": "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
    "python_requests": "t13d1812h1_85036bcba153_375ca2c5e164",
    "curl": "t13d3112h1_e8f1e7e78f70_b26ce05bbdd6",
    "go": "t13d1311h2_f57a46bbacb6_ab7e3b40a677",
    "okhttp": "t13d1412h2_0c8c8a8e4b25_f6bac7c1c5b8",  # okhttp on a desktop JVM, outside the app
}
KNOWN_TLS_PLATFORM: dict[str, str] = {
    "android_app": "android",
    "ios_app": "ios",
    "chrome_desktop": "browser",
    "safari": "browser",
    "firefox": "browser",
    "python_requests": "library",
    "curl": "library",
    "go": "library",
    "okhttp": "library",
}
BUILTIN_TLS_PLATFORMS: dict[str, str] = {KNOWN_TLS[name]: KNOWN_TLS_PLATFORM[name] for name in KNOWN_TLS}


def clean_fingerprint(value: str | None) -> str | None:
    """The fingerprint from a header value: trimmed, lower-cased; None when empty or too long."""
    if not value:
        return None
    value = value.strip().lower()
    if not value or len(value) > MAX_FINGERPRINT_CHARS:
        return None
    return value


class TLSTable:
    """Fingerprint -> stack platform: the built-in examples plus the operator's entries."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        table = dict(BUILTIN_TLS_PLATFORMS)
        for fingerprint, platform in (extra or {}).items():
            if platform not in TLS_PLATFORMS:
                raise ConfigError(
                    f"apps.tls_platforms.{fingerprint}: {platform!r} is not a TLS platform; "
                    f"use one of {', '.join(TLS_PLATFORMS)}"
                )
            table[fingerprint.strip().lower()] = platform
        self._table = table

    def platform(self, fingerprint: str | None) -> str | None:
        """The stack platform of a cleaned fingerprint; None when absent or not in the table."""
        if fingerprint is None:
            return None
        return self._table.get(fingerprint)

    def __len__(self) -> int:
        return len(self._table)


def tls_consistent(tls_platform: str | None, ua_family: str, ua_platform: str) -> bool | None:
    """Whether the TLS stack is one the claimed client would use; None when it cannot be told.

    - no fingerprint, or one not in the table: None
    - an app claim needs the app stack of the claimed platform (android/ios);
      a library or browser stack, or the other platform's stack, is inconsistent
    - a browser claim needs a browser stack
    - automation drives real browsers: a browser stack is consistent, others are not
    - an http-library claim is honest about being a library: only a browser
      stack under it is inconsistent
    - an unknown User-Agent claims nothing: None
    """
    if tls_platform is None:
        return None
    if ua_family == "app":
        if ua_platform not in ("android", "ios"):
            return None if tls_platform in ("android", "ios") else False
        return tls_platform == ua_platform
    if ua_family == "browser":
        return tls_platform == "browser"
    if ua_family == "automation":
        return tls_platform == "browser"
    if ua_family == "http-library":
        return tls_platform != "browser"
    return None
