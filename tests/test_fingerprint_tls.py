"""TLS fingerprints: the config's tables (per app and platform, and other stacks) and the consistency judgement."""

from __future__ import annotations

import pytest

from gateway.demo.tls import DEMO_TLS, DEMO_TLS_PLATFORM
from gateway.fingerprint.tls import TLSTable, clean_fingerprint, tls_consistent
from gateway.fingerprint.user_agent import UserAgentInfo
from gateway.settings import REPO_ROOT, App, Apps, load_settings

IOS_APP = "t13d2113h2_e8f1e7e78f70_b26ce05bbdd6"
SAFARI = "t13d2014h2_a09f3c656075_14788d8d241b"  # the iOS system stack: the app and Safari share it
ANDROID_APP = "t13d1715h2_5b57614c22b0_3d5424432f57"
CHROME = "t13d1516h2_8daaf6152771_02713d6af862"
PYTHON = "t13d1812h1_85036bcba153_d41ae481755e"

APPS = Apps(
    clients=(
        App("ExampleSocial", client_ids=("es.ios", "es.android"), platforms=("ios", "android"),
            tls={"ios": (IOS_APP, SAFARI.upper()), "android": (ANDROID_APP,)}),
        App("ExampleSocial web", client_ids=("es.web",), platforms=("web",), tls={"web": (CHROME, SAFARI)}),
    ),
    tls_platforms={PYTHON: "library"},
)


def app(platform: str, name: str = "ExampleSocial") -> UserAgentInfo:
    return UserAgentInfo("app", platform, platform != "unknown", name, name)


def judge(table: TLSTable, fingerprint: str | None, ua: UserAgentInfo) -> tuple[str | None, bool | None]:
    fp = clean_fingerprint(fingerprint)
    return table.judge(fp, table.labels(fp), ua)


def test_demo_examples_are_the_demo_configs() -> None:
    """The simulator presents gateway/demo/tls.py's fingerprints; the demo config must list each, on its platform."""
    apps = load_settings(REPO_ROOT / "gateway" / "demo" / "config.yaml").apps
    table = TLSTable(apps)
    assert set(DEMO_TLS) == set(DEMO_TLS_PLATFORM) and len(set(DEMO_TLS.values())) == len(DEMO_TLS)
    for name, fingerprint in DEMO_TLS.items():
        assert table.platform(fingerprint) == DEMO_TLS_PLATFORM[name], name


def test_no_built_in_table() -> None:
    assert len(TLSTable()) == 0 and TLSTable().platform(DEMO_TLS["android_app"]) is None


def test_a_fingerprint_may_sit_on_several_platforms() -> None:
    table = TLSTable(APPS)
    assert table.labels(SAFARI) == ("ios", "browser")
    assert judge(table, SAFARI, app("ios")) == ("ios", True)
    assert judge(table, SAFARI, UserAgentInfo("browser", "macos")) == ("ios", True)
    assert judge(table, SAFARI, app("android")) == ("ios", False)


@pytest.mark.parametrize(
    ("fingerprint", "ua", "expected"),
    [
        (IOS_APP, app("ios"), ("ios", True)),
        (ANDROID_APP, app("android"), ("android", True)),
        (IOS_APP, app("android"), ("ios", False)),  # the iOS stack claiming the Android app
        (PYTHON, app("android"), ("library", False)),  # a script wearing the app's User-Agent
        ("t13d9999h2_000000000000_000000000000", app("android"), (None, False)),  # no stack the app has
        (None, app("android"), (None, None)),
        (PYTHON, app("unknown"), ("library", False)),  # "ExampleSocial/1.0": a claim on no platform
        (IOS_APP, app("unknown"), ("ios", True)),
        (CHROME, UserAgentInfo("browser", "windows"), ("browser", True)),
        (PYTHON, UserAgentInfo("browser", "windows"), ("library", False)),
        (PYTHON, UserAgentInfo("http-library", "unknown"), ("library", True)),
        (CHROME, UserAgentInfo("http-library", "unknown"), ("browser", False)),
        (PYTHON, UserAgentInfo("unknown", "unknown"), ("library", None)),
    ],
)
def test_judge(fingerprint: str | None, ua: UserAgentInfo, expected: tuple) -> None:
    assert judge(TLSTable(APPS), fingerprint, ua) == expected


def test_operator_table_comes_first_and_is_cleaned() -> None:
    table = TLSTable(Apps(tls_platforms={"T13D9999H2_AAAAAAAAAAAA_BBBBBBBBBBBB": "ios"}))
    assert table.platform(clean_fingerprint(" t13d9999h2_aaaaaaaaaaaa_bbbbbbbbbbbb ")) == "ios"


def test_clean_fingerprint() -> None:
    assert clean_fingerprint(None) is None
    assert clean_fingerprint("  ") is None
    assert clean_fingerprint("x" * 1000) is None
    assert clean_fingerprint(" ABC ") == "abc"


@pytest.mark.parametrize(
    ("labels", "family", "platform", "expected"),
    [
        ((), "app", "android", None),
        (("android",), "app", "android", True),
        (("ios",), "app", "ios", True),
        (("android",), "app", "ios", False),  # an Android stack claiming the iOS app
        (("library",), "app", "android", False),
        (("browser",), "app", "ios", False),
        (("library",), "app", "unknown", False),
        (("android",), "app", "unknown", None),
        (("browser",), "browser", "windows", True),
        (("library",), "browser", "windows", False),  # requests with a Chrome User-Agent
        (("android",), "browser", "android", False),
        (("browser",), "automation", "linux", True),
        (("library",), "automation", "unknown", False),
        (("library",), "http-library", "unknown", True),
        (("android",), "http-library", "android", True),
        (("browser",), "http-library", "unknown", False),
        (("ios", "browser"), "http-library", "ios", True),  # CFNetwork on the iOS system stack
        (("library",), "unknown", "unknown", None),
    ],
)
def test_tls_consistent_without_an_app_table(labels: tuple, family: str, platform: str, expected: bool | None) -> None:
    assert tls_consistent(labels, family, platform) is expected
