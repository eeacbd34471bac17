"""User-Agent parsing: the described apps' patterns first, then ua-parser for everything else."""

from __future__ import annotations

import pytest

from gateway.fingerprint.apps import compile_apps
from gateway.fingerprint.user_agent import MAX_UA_CHARS, UserAgentParser, parse_user_agent
from gateway.settings import App, Apps, AppVersions

CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
CHROME_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"
SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
EDGE_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67"
CHROME_IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
PHANTOM = "Mozilla/5.0 (Macintosh; Intel Mac OS X) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"

# Copies of the ExampleSocial platform's User-Agents (its traffic sample), so these tests need no shared folder.
ES_IOS = "ExampleSocial/312.0.0.34.109 (iPhone14,2; iOS 17_5_1; en_US; en; scale=3.00; 1170x2532; 556014230)"
ES_IOS_18 = "ExampleSocial/312.0.0.34.109 (iPhone16,1; iOS 18_1; en_US; en; scale=3.00; 1170x2532; 556014230)"
ES_ANDROID = "ExampleSocial 312.0.0.34.109 Android (34/14; 420dpi; 1080x2340; samsung; SM-S911B; dm1q; qcom; en_US; 556014230)"
ES_ANDROID_PIXEL = "ExampleSocial 312.0.0.34.109 Android (33/13; 440dpi; 1080x2400; Google; Pixel 7; panther; qcom; en_US; 556014230)"
ES_FROZEN = "ExampleSocial 10.3.2 Android (18/4.3; 320dpi; 720x1280; samsung; GT-I9300; m0; smdk4x12; en_US)"
PHOTOFILTER = "PhotoFilter/5.2.1 (iPhone; iOS 17_5_1; Scale/3.00)"
DALVIK = "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230901.001)"

EXAMPLE_SOCIAL = App(
    name="ExampleSocial",
    client_ids=("com.example.social.ios", "com.example.social.android"),
    platforms=("ios", "android"),
    user_agents=(
        r"ExampleSocial/(?P<version>\d+(?:\.\d+)+) \((?P<device>[^;()]+); (?P<platform>iOS) (?P<os_version>\d+(?:_\d+)*); [^()]*\)",
        r"ExampleSocial (?P<version>\d+(?:\.\d+)+) (?P<platform>Android) \((?P<os_version>\d+/\d+(?:\.\d+)*); \d+dpi; \d+x\d+; [^;()]+; (?P<device>[^;()]+);[^()]*\)",
    ),
    versions=AppVersions(current="312.0.0.34.109", minimum="290.0.0.0.0"),
)
PARTNER = App(name="PhotoFilter", kind="third_party", client_ids=("com.partner.photofilter",),
              user_agents=(r"PhotoFilter/(?P<version>[\d.]+) \((?:iPhone; )?(?P<platform>iOS|Linux; Android)",))
ENGAGE = App(
    name="Engage", platforms=("android", "ios"),
    user_agents=(r"Engage/(?P<version>\d+(?:\.\d+)*) \((?P<platform>Android|iOS) (?P<os_version>\d+(?:\.\d+)*); (?P<device>[^;()]+); [^;()]+\)",),
    versions=AppVersions(current="412.0.1", minimum="410.0.0"),
)

TABLE = [
    # (user agent, family, platform, official app)
    ("Engage/412.0.1 (Android 14; Pixel 8; en_US)", "app", "android", True),
    ("Engage/412.0.1 (iOS 17.4; iPhone15,2; en_US)", "app", "ios", True),
    ("Engage/412.0.1 (iOS 17.4; iPhone15,2)", "app", "ios", False),  # locale missing: a claim by name
    ("Engage/1.0", "app", "unknown", False),
    ("Engage/latest (Android 14; Pixel 8; en_US)", "app", "android", False),  # not a version
    ("Engage/412.0.1 (Symbian 3; N95; en_US)", "app", "unknown", False),
    (ES_IOS, "app", "ios", True),
    (ES_IOS_18, "app", "ios", True),
    (ES_ANDROID, "app", "android", True),
    (ES_ANDROID_PIXEL, "app", "android", True),
    (ES_FROZEN, "app", "android", True),  # well formed; its version is the tell (below)
    ("ExampleSocial/1.0", "app", "unknown", False),
    (PHOTOFILTER, "app", "ios", False),  # a registered partner's app: an app, not the platform's own
    (CHROME_WIN, "browser", "windows", False),
    (CHROME_ANDROID, "browser", "android", False),
    (SAFARI_MAC, "browser", "macos", False),
    (SAFARI_IPHONE, "browser", "ios", False),
    (FIREFOX_LINUX, "browser", "linux", False),
    (EDGE_WIN, "browser", "windows", False),
    (CHROME_IOS, "browser", "ios", False),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1)", "browser", "windows", False),
    ("python-requests/2.31.0", "http-library", "unknown", False),
    ("okhttp/4.12.0", "http-library", "unknown", False),
    ("okhttp/4.9.0", "http-library", "unknown", False),
    ("curl/8.6.0", "http-library", "unknown", False),
    ("Go-http-client/2.0", "http-library", "unknown", False),
    ("axios/1.6.8", "http-library", "unknown", False),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "http-library", "unknown", False),
    ("Java/17.0.10", "http-library", "unknown", False),
    ("Python/3.11 aiohttp/3.9.5", "http-library", "unknown", False),
    ("python-httpx/0.27.0", "http-library", "unknown", False),
    ("Apache-HttpClient/4.5.14 (Java/17)", "http-library", "unknown", False),
    (DALVIK, "http-library", "android", False),
    ("SomeApp/3 CFNetwork/1494.0.7 Darwin/23.4.0", "http-library", "ios", False),
    (HEADLESS, "automation", "linux", False),
    (PHANTOM, "automation", "macos", False),
    ("Mozilla/5.0 (Windows NT 10.0) Selenium WebDriver", "automation", "windows", False),
    ("Mozilla/5.0 Puppeteer", "automation", "unknown", False),
    ("Playwright/1.43", "automation", "unknown", False),
    ("Appium/2.5 (Android 14)", "automation", "android", False),
    ("Scrapy/2.11 (+https://scrapy.org)", "automation", "unknown", False),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "automation", "unknown", False),
    ("", "unknown", "unknown", False),
    ("   ", "unknown", "unknown", False),
    ("FollowerBoost", "unknown", "unknown", False),
    ("engage/412.0.1 (Android 14; Pixel 8; en_US)", "unknown", "android", False),  # the name is case-sensitive
]


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser(compile_apps(Apps(clients=(EXAMPLE_SOCIAL, PARTNER, ENGAGE))))


@pytest.mark.parametrize(("ua", "family", "platform", "official"), TABLE)
def test_parse(parser: UserAgentParser, ua: str, family: str, platform: str, official: bool) -> None:
    info = parser.parse(ua)
    assert (info.family, info.platform, info.official_app) == (family, platform, official)


def test_the_app_read_from_its_user_agent(parser: UserAgentParser) -> None:
    ios, android, frozen = parser.parse(ES_IOS), parser.parse(ES_ANDROID), parser.parse(ES_FROZEN)
    assert (ios.app, ios.version, ios.version_age, ios.version_impossible) == ("ExampleSocial", "312.0.0.34.109", 0, False)
    assert (android.app, android.version, android.version_impossible) == ("ExampleSocial", "312.0.0.34.109", False)
    # A version two years older than the oldest allowed: an emulator's frozen string.
    assert (frozen.version, frozen.version_age, frozen.version_impossible) == ("10.3.2", 302, True)
    newer = parser.parse("Engage/413.0.0 (Android 14; Pixel 8; en_US)")
    assert (newer.version_age, newer.version_impossible) == (0, True)  # newer than the current release
    old = parser.parse("Engage/410.0.3 (iOS 17.4; iPhone15,2; en_US)")
    assert (old.version_age, old.version_impossible) == (2, False)
    assert parser.parse("Engage/1.0").version is None  # a claim by name reads no version
    partner = parser.parse(PHOTOFILTER)
    assert (partner.app, partner.version, partner.version_impossible) == ("PhotoFilter", "5.2.1", None)


def test_without_described_apps_nothing_is_an_app() -> None:
    assert parse_user_agent(ES_ANDROID).family == "unknown"
    assert parse_user_agent("Engage/412.0.1 (Android 14; Pixel 8; en_US)").family != "app"
    assert parse_user_agent("python-requests/2.31.0").family == "http-library"


def test_browser_names() -> None:
    assert parse_user_agent(EDGE_WIN).name == "Edge"
    assert parse_user_agent(CHROME_WIN).name == "Chrome"
    assert parse_user_agent(SAFARI_MAC).name == "Safari"
    assert parse_user_agent(FIREFOX_LINUX).name == "Firefox"


def test_okhttp_inside_the_app_is_the_app(parser: UserAgentParser) -> None:
    info = parser.parse("Engage/412.0.1 (Android 14; Pixel 8; en_US) okhttp/4.12.0")
    assert info.family == "app" and info.official_app


def test_a_platform_the_app_does_not_ship_on_is_no_official_claim() -> None:
    ios_only = App(name="Chirp", platforms=("ios",), user_agents=(r"Chirp/(?P<version>[\d.]+) \((?P<platform>\w+)",))
    parser = UserAgentParser(compile_apps(Apps(clients=(ios_only,))))
    assert parser.parse("Chirp/9.1 (iOS 17.4)").official_app
    assert (parser.parse("Chirp/9.1 (Android 14)").platform, parser.parse("Chirp/9.1 (Android 14)").official_app) == ("unknown", False)


def test_cache_is_bounded_and_long_user_agents_are_cut() -> None:
    parser = UserAgentParser(cache_size=8)
    for i in range(50):
        parser.parse(f"curl/{i}")
    assert parser._cached.cache_info().currsize == 8
    long_ua = "curl/8.6.0 " + "x" * 10_000
    assert parser.parse(long_ua).family == "http-library"
    # The cache is keyed by the cut text, so a long value costs no more memory than a short one.
    assert parser.parse(long_ua) is parser.parse(long_ua[:MAX_UA_CHARS])
