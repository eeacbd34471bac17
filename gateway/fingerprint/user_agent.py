"""What a User-Agent claims to be: its family, its platform, and whether it claims the platform's own app.

Families, checked in this order (the first that matches wins):

- ``app``: the platform's own app, ``<App>/<version> (<Android|iOS> <os version>; <device>; <locale>)``,
  e.g. ``Engage/412.0.1 (Android 14; Pixel 8; en_US)``. ``official_app`` is True
  only when the whole grammar matches; ``Engage/1.0`` alone is an ``app`` claim
  that is not well formed.
- ``automation``: browser automation and crawlers (HeadlessChrome, PhantomJS,
  Selenium, Puppeteer, Playwright, Appium, ...), checked before browsers
  because they carry browser tokens too.
- ``http-library``: HTTP client libraries and tools (python-requests, okhttp,
  curl, Go-http-client, axios, node-fetch, Java, aiohttp, httpx, ...).
- ``browser``: Chrome, Safari, Firefox, Edge, Opera, with their platform.
- ``unknown``: anything else, including an empty User-Agent.

Platforms: android, ios, windows, macos, linux, unknown.

Only the first MAX_UA_CHARS characters are read; parses are cached in a
bounded LRU since User-Agents repeat heavily.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

DEFAULT_APP_NAME = "Engage"
MAX_UA_CHARS = 512
CACHE_SIZE = 8192

# (lower-case token, display name); the first token found names the client.
AUTOMATION_TOKENS = (
    ("headlesschrome", "HeadlessChrome"),
    ("phantomjs", "PhantomJS"),
    ("selenium", "Selenium"),
    ("webdriver", "WebDriver"),
    ("puppeteer", "Puppeteer"),
    ("playwright", "Playwright"),
    ("appium", "Appium"),
    ("cypress", "Cypress"),
    ("nightmare", "Nightmare"),
    ("scrapy", "Scrapy"),
    ("uiautomator", "UiAutomator"),
    ("xctest", "XCTest"),
)
LIBRARY_TOKENS = (
    ("python-requests/", "python-requests"),
    ("python-httpx/", "httpx"),
    ("aiohttp/", "aiohttp"),
    ("python-urllib/", "urllib"),
    ("okhttp/", "okhttp"),
    ("curl/", "curl"),
    ("wget/", "Wget"),
    ("go-http-client/", "Go-http-client"),
    ("axios/", "axios"),
    ("node-fetch/", "node-fetch"),
    ("undici", "undici"),
    ("got (https://github.com/sindresorhus/got)", "got"),
    ("java/", "Java"),
    ("apache-httpclient/", "Apache-HttpClient"),
    ("libwww-perl/", "libwww-perl"),
    ("guzzlehttp/", "Guzzle"),
    ("dart/", "Dart"),
    ("postmanruntime/", "Postman"),
    ("insomnia/", "Insomnia"),
    ("httpie/", "HTTPie"),
    ("dalvik/", "Dalvik"),  # Android's built-in HttpURLConnection
    ("cfnetwork/", "CFNetwork"),  # iOS URLSession without a custom User-Agent
)
# Order matters: Edge and Opera carry "Chrome/", Chrome carries "Safari/".
BROWSER_TOKENS = (
    ("edg/", "Edge"),
    ("edga/", "Edge"),
    ("edgios/", "Edge"),
    ("opr/", "Opera"),
    ("firefox/", "Firefox"),
    ("fxios/", "Firefox"),
    ("crios/", "Chrome"),
    ("chrome/", "Chrome"),
    ("chromium/", "Chrome"),
    ("safari/", "Safari"),
)
# Order matters: Android UAs say "Linux", iOS UAs say "like Mac OS X".
PLATFORM_TOKENS = (
    ("android", "android"),
    ("iphone", "ios"),
    ("ipad", "ios"),
    ("ipod", "ios"),
    ("cfnetwork/", "ios"),
    ("windows", "windows"),
    ("macintosh", "macos"),
    ("mac os x", "macos"),
    ("cros ", "linux"),
    ("linux", "linux"),
    ("x11", "linux"),
)


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    family: str  # app, browser, http-library, automation, unknown
    platform: str  # android, ios, windows, macos, linux, unknown
    official_app: bool = False  # a well-formed claim to be the platform's own app
    name: str = ""  # the client named, e.g. Chrome, curl, Engage


UNKNOWN = UserAgentInfo("unknown", "unknown")


def _platform(lower: str) -> str:
    for token, platform in PLATFORM_TOKENS:
        if token in lower:
            return platform
    return "unknown"


def _first(lower: str, tokens: tuple[tuple[str, str], ...]) -> str | None:
    for token, name in tokens:
        if token in lower:
            return name
    return None


def _app_claim(ua: str, app_name: str) -> UserAgentInfo:
    """Parse ``<App>/<version> (<OS> <os version>; <device>; <locale>)``."""
    version, _, rest = ua[len(app_name) + 1 :].partition(" ")
    open_at, close_at = rest.find("("), rest.find(")")
    inside = rest[open_at + 1 : close_at] if 0 <= open_at < close_at else ""
    parts = [p.strip() for p in inside.split(";")]
    os_name, _, os_version = parts[0].partition(" ")
    platform = {"android": "android", "ios": "ios"}.get(os_name.lower(), "unknown")
    official = (
        platform != "unknown"
        and len(parts) == 3
        and all(parts)
        and _dotted_number(version)
        and _dotted_number(os_version)
    )
    return UserAgentInfo("app", platform, official, app_name)


def _dotted_number(text: str) -> bool:
    return bool(text) and all(piece.isdigit() for piece in text.split("."))


class UserAgentParser:
    """Parses User-Agents for one platform app name, with a bounded cache."""

    def __init__(self, app_name: str = DEFAULT_APP_NAME, cache_size: int = CACHE_SIZE) -> None:
        if not app_name or "/" in app_name or " " in app_name:
            raise ValueError(f"app name {app_name!r}: give the product token alone, e.g. 'Engage'")
        self.app_name = app_name
        self._prefix = app_name + "/"
        self._cached = functools.lru_cache(maxsize=cache_size)(self._parse)

    def parse(self, ua: str) -> UserAgentInfo:
        if len(ua) > MAX_UA_CHARS:
            ua = ua[:MAX_UA_CHARS]
        return self._cached(ua)

    def _parse(self, ua: str) -> UserAgentInfo:
        ua = ua.strip()
        if not ua:
            return UNKNOWN
        if ua.startswith(self._prefix):
            return _app_claim(ua, self.app_name)
        lower = ua.lower()
        if name := _first(lower, AUTOMATION_TOKENS):
            return UserAgentInfo("automation", _platform(lower), False, name)
        if name := _first(lower, LIBRARY_TOKENS):
            return UserAgentInfo("http-library", _platform(lower), False, name)
        if lower.startswith("mozilla/") and (name := _first(lower, BROWSER_TOKENS)):
            return UserAgentInfo("browser", _platform(lower), False, name)
        return UserAgentInfo("unknown", _platform(lower), False, "")


_default_parser = UserAgentParser()


def parse_user_agent(ua: str) -> UserAgentInfo:
    """Parse a User-Agent with the default app name ("Engage")."""
    return _default_parser.parse(ua)
