"""Browsers, HTTP libraries and automation, read by ua-parser and mapped to the gateway's families.

ua-parser (uap-core's regexes, maintained upstream) names the client, its OS
and device; it does not say whether a client is a browser, a library or a
bot, so the families below map its names to ours. A few clients it does not
name, or names after the OS they run on (Dalvik reads as "Android",
Appium as the phone it drives), are matched by token first.

Its resolver runs re2 (linear time, like every pattern here). A parse costs
tens of microseconds; gateway.fingerprint.user_agent caches it per User-Agent.
"""

from __future__ import annotations

import ua_parser
from ua_parser import Domain, load_lazy_builtins

# (lower-case token, name): automation ua-parser misses or reads as a browser or a phone.
AUTOMATION_TOKENS = (
    ("selenium", "Selenium"), ("webdriver", "WebDriver"), ("puppeteer", "Puppeteer"),
    ("playwright", "Playwright"), ("appium", "Appium"), ("cypress", "Cypress"), ("nightmare", "Nightmare"),
    ("uiautomator", "UiAutomator"), ("xctest", "XCTest"),
)  # fmt: skip
# Libraries ua-parser misses, or names after the OS (Dalvik, CFNetwork: the system HTTP stacks).
LIBRARY_TOKENS = (
    ("dalvik/", "Dalvik"), ("cfnetwork/", "CFNetwork"), ("python-httpx/", "httpx"), ("node-fetch/", "node-fetch"),
    ("undici", "undici"), ("dart/", "Dart"), ("guzzlehttp/", "Guzzle"), ("aiohttp/", "aiohttp"),
    ("urllib3/", "urllib3"),
)  # fmt: skip
# ua-parser family names that are automation or libraries.
AUTOMATION_FAMILIES = frozenset({"HeadlessChrome", "PhantomJS", "Scrapy"})
LIBRARY_FAMILIES = frozenset({
    "Python Requests", "Python aiohttp", "Python-urllib", "okhttp", "curl", "libcurl-agent", "PycURL", "Wget",
    "wget2", "Go-http-client", "go-resty", "axios", "Java", "Google-HTTP-Java-Client", "Apache-HttpClient",
    "PostmanRuntime", "libwww-perl", "HTTPie", "got", "insomnia", "reqwest", "GuzzleHttp", "HTTPClient",
    "unirest-java", "unirest-python", "unirest-ruby", "unirest-nodejs", "unirest-php", "unirest-net",
    "scalaj-http", "akka-http", "AHC", "Jersey", "Vert.x-WebClient", "ReactorNetty", "aria2", "WinHTTP", "Boto",
    "Boto3", "aws-cli",
})  # fmt: skip
# ua-parser OS family -> the gateway's platform.
PLATFORMS = {
    "Android": "android", "iOS": "ios", "Windows": "windows", "Mac OS X": "macos", "Linux": "linux",
    "Ubuntu": "linux", "Fedora": "linux", "Debian": "linux", "Chrome OS": "linux", "FreeBSD": "linux",
}  # fmt: skip

_parser = ua_parser.Parser(ua_parser.BestAvailableResolver(load_lazy_builtins()))  # no cache: ours is in front
_UA_OS = Domain.USER_AGENT | Domain.OS


def _token(lower: str, tokens: tuple[tuple[str, str], ...]) -> str | None:
    for token, name in tokens:
        if token in lower:
            return name
    return None


def classify(ua: str) -> tuple[str, str, str]:
    """(family, platform, client name) of a User-Agent that is none of the described apps."""
    found = _parser(ua, _UA_OS)
    os = found.os
    platform = PLATFORMS.get(os.family, "unknown") if os is not None else "unknown"
    lower = ua.lower()
    if name := _token(lower, AUTOMATION_TOKENS):
        return "automation", platform, name
    if name := _token(lower, LIBRARY_TOKENS):
        return "http-library", platform, name
    agent = found.user_agent
    family = agent.family if agent is not None else ""
    if family in LIBRARY_FAMILIES:
        return "http-library", platform, family
    if family in AUTOMATION_FAMILIES:
        return "automation", platform, family
    device = _parser(ua, Domain.DEVICE).device
    if device is not None and device.family == "Spider":  # crawlers and bots that say so
        return "automation", platform, family or "crawler"
    if family and family != "Other" and lower.startswith("mozilla/"):
        return "browser", platform, family
    return "unknown", platform, ""
