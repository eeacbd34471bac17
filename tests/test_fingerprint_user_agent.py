"""User-Agent parsing: family, platform and the official-app claim."""

from __future__ import annotations

import pytest

from gateway.fingerprint.user_agent import MAX_UA_CHARS, UserAgentParser, parse_user_agent

CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
CHROME_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"
SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
EDGE_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67"
CHROME_IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
PHANTOM = "Mozilla/5.0 (Macintosh; Intel Mac OS X) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"

TABLE = [
    # (user agent, family, platform, official app)
    ("Engage/412.0.1 (Android 14; Pixel 8; en_US)", "app", "android", True),
    ("Engage/412.0.1 (iOS 17.4; iPhone15,2; en_US)", "app", "ios", True),
    ("Engage/412.0.1 (iOS 17.4; iPhone15,2)", "app", "ios", False),  # locale missing
    ("Engage/1.0", "app", "unknown", False),
    ("Engage/latest (Android 14; Pixel 8; en_US)", "app", "android", False),  # not a version
    ("Engage/412.0.1 (Symbian 3; N95; en_US)", "app", "unknown", False),
    (CHROME_WIN, "browser", "windows", False),
    (CHROME_ANDROID, "browser", "android", False),
    (SAFARI_MAC, "browser", "macos", False),
    (SAFARI_IPHONE, "browser", "ios", False),
    (FIREFOX_LINUX, "browser", "linux", False),
    (EDGE_WIN, "browser", "windows", False),
    (CHROME_IOS, "browser", "ios", False),
    ("python-requests/2.31.0", "http-library", "unknown", False),
    ("okhttp/4.12.0", "http-library", "unknown", False),
    ("curl/8.6.0", "http-library", "unknown", False),
    ("Go-http-client/2.0", "http-library", "unknown", False),
    ("axios/1.6.8", "http-library", "unknown", False),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "http-library", "unknown", False),
    ("Java/17.0.10", "http-library", "unknown", False),
    ("Python/3.11 aiohttp/3.9.5", "http-library", "unknown", False),
    ("python-httpx/0.27.0", "http-library", "unknown", False),
    ("Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP1A.240405.002)", "http-library", "android", False),
    ("SomeApp/3 CFNetwork/1494.0.7 Darwin/23.4.0", "http-library", "ios", False),
    (HEADLESS, "automation", "linux", False),
    (PHANTOM, "automation", "macos", False),
    ("Mozilla/5.0 (Windows NT 10.0) Selenium WebDriver", "automation", "windows", False),
    ("Mozilla/5.0 Puppeteer", "automation", "unknown", False),
    ("Playwright/1.43", "automation", "unknown", False),
    ("Appium/2.5 (Android 14)", "automation", "android", False),
    ("", "unknown", "unknown", False),
    ("   ", "unknown", "unknown", False),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1)", "unknown", "windows", False),
    ("FollowerBoost", "unknown", "unknown", False),
    ("engage/412.0.1 (Android 14; Pixel 8; en_US)", "unknown", "android", False),  # the token is case-sensitive
]


@pytest.mark.parametrize(("ua", "family", "platform", "official"), TABLE)
def test_parse(ua: str, family: str, platform: str, official: bool) -> None:
    info = parse_user_agent(ua)
    assert (info.family, info.platform, info.official_app) == (family, platform, official)


def test_browser_names() -> None:
    assert parse_user_agent(EDGE_WIN).name == "Edge"
    assert parse_user_agent(CHROME_WIN).name == "Chrome"
    assert parse_user_agent(SAFARI_MAC).name == "Safari"
    assert parse_user_agent(FIREFOX_LINUX).name == "Firefox"


def test_okhttp_inside_the_app_is_the_app() -> None:
    info = parse_user_agent("Engage/412.0.1 (Android 14; Pixel 8; en_US) okhttp/4.12.0")
    assert info.family == "app" and info.official_app


def test_app_name_is_configurable() -> None:
    parser = UserAgentParser("Chirp")
    assert parser.parse("Chirp/9.1 (iOS 17.4; iPhone15,2; fr_FR)").official_app
    assert parser.parse("Engage/412.0.1 (Android 14; Pixel 8; en_US)").family == "unknown"


@pytest.mark.parametrize("bad", ["", "Engage/1", "Two Words"])
def test_bad_app_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="product token"):
        UserAgentParser(bad)


def test_cache_is_bounded_and_long_user_agents_are_cut() -> None:
    parser = UserAgentParser(cache_size=8)
    for i in range(50):
        parser.parse(f"curl/{i}")
    assert parser._cached.cache_info().currsize == 8
    long_ua = "curl/8.6.0 " + "x" * 10_000
    assert parser.parse(long_ua).family == "http-library"
    # The cache is keyed by the cut text, so a long value costs no more memory than a short one.
    assert parser.parse(long_ua) is parser.parse(long_ua[:MAX_UA_CHARS])
