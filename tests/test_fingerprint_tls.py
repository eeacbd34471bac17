"""TLS fingerprints: the built-in table, config overrides, and consistency with the claimed client."""

from __future__ import annotations

import pytest

from gateway.fingerprint.tls import (
    BUILTIN_TLS_PLATFORMS,
    KNOWN_TLS,
    KNOWN_TLS_PLATFORM,
    TLSTable,
    clean_fingerprint,
    tls_consistent,
)
from gateway.settings import ConfigError


def test_known_stacks_are_ja4_shaped_and_distinct() -> None:
    assert set(KNOWN_TLS) == set(KNOWN_TLS_PLATFORM)
    assert len(set(KNOWN_TLS.values())) == len(KNOWN_TLS)
    for value in KNOWN_TLS.values():
        head, a, b = value.split("_")
        assert head[0] in "tq" and len(head) == 10 and len(a) == 12 and len(b) == 12
    assert {"android_app", "ios_app", "chrome_desktop", "safari", "firefox", "python_requests", "curl", "go", "okhttp"} <= set(KNOWN_TLS)


def test_builtin_table() -> None:
    table = TLSTable()
    assert table.platform(KNOWN_TLS["android_app"]) == "android"
    assert table.platform(KNOWN_TLS["ios_app"]) == "ios"
    assert table.platform(KNOWN_TLS["safari"]) == "browser"
    assert table.platform(KNOWN_TLS["python_requests"]) == "library"
    assert table.platform("t13d0000h2_000000000000_000000000000") is None
    assert table.platform(None) is None
    assert len(table) == len(BUILTIN_TLS_PLATFORMS)


def test_config_extends_and_overrides() -> None:
    table = TLSTable({"T13D9999H2_AAAAAAAAAAAA_BBBBBBBBBBBB": "ios", KNOWN_TLS["okhttp"]: "android"})
    assert table.platform(clean_fingerprint(" t13d9999h2_aaaaaaaaaaaa_bbbbbbbbbbbb ")) == "ios"
    assert table.platform(KNOWN_TLS["okhttp"]) == "android"


def test_config_with_unknown_platform_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"apps.tls_platforms.abc: 'windows' is not a TLS platform"):
        TLSTable({"abc": "windows"})


def test_clean_fingerprint() -> None:
    assert clean_fingerprint(None) is None
    assert clean_fingerprint("  ") is None
    assert clean_fingerprint("x" * 1000) is None
    assert clean_fingerprint(" ABC ") == "abc"


@pytest.mark.parametrize(
    ("tls", "family", "platform", "expected"),
    [
        (None, "app", "android", None),
        ("android", "app", "android", True),
        ("ios", "app", "ios", True),
        ("android", "app", "ios", False),  # an Android stack claiming the iOS app
        ("ios", "app", "android", False),
        ("library", "app", "android", False),  # a script wearing the app's User-Agent
        ("browser", "app", "ios", False),
        ("library", "app", "unknown", False),
        ("android", "app", "unknown", None),
        ("browser", "browser", "windows", True),
        ("library", "browser", "windows", False),  # requests with a Chrome User-Agent
        ("android", "browser", "android", False),
        ("browser", "automation", "linux", True),
        ("library", "automation", "unknown", False),
        ("library", "http-library", "unknown", True),
        ("android", "http-library", "android", True),
        ("browser", "http-library", "unknown", False),
        ("library", "unknown", "unknown", None),
    ],
)
def test_tls_consistent(tls: str | None, family: str, platform: str, expected: bool | None) -> None:
    assert tls_consistent(tls, family, platform) is expected
