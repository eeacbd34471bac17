"""What a User-Agent claims to be: its family, its platform, and which of the platform's apps, if any.

Families, checked in this order (the first that matches wins):

- ``app``: one of the apps described in the config (``apps.clients``): a
  User-Agent one of its ``user_agents`` patterns matches (``official_app`` when
  the app is first party and the platform read is one it ships on), or one
  that starts with the app's name (``ExampleSocial/1.0``): a claim to be the
  app that is not well formed.
- ``automation``: browser automation and crawlers (HeadlessChrome, PhantomJS,
  Selenium, Puppeteer, Playwright, Appium, Scrapy, ...).
- ``http-library``: HTTP client libraries and tools (python-requests, okhttp,
  curl, Go-http-client, axios, Java, aiohttp, httpx, ...).
- ``browser``: a ``Mozilla/`` User-Agent the parser names a browser in.
- ``unknown``: anything else, including an empty User-Agent.

Everything but the described apps is read by ua-parser (uap-core's maintained
regexes, see gateway.fingerprint.ua_families). Platforms: android, ios,
windows, macos, linux, web (a described web app), unknown.

Only the first MAX_UA_CHARS characters are read; parses are cached in a
bounded LRU keyed on that text, since User-Agents repeat heavily.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from gateway.fingerprint.apps import CompiledApp
from gateway.fingerprint.ua_families import classify

MAX_UA_CHARS = 512
CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    family: str  # app, browser, http-library, automation, unknown
    platform: str  # android, ios, windows, macos, linux, web, unknown
    official_app: bool = False  # matches a first-party app's pattern, on a platform it ships on
    name: str = ""  # the client named, e.g. Chrome, curl, ExampleSocial
    app: str | None = None  # the described app whose pattern matched
    version: str | None = None  # the app version the pattern read
    version_age: int | None = None  # major versions behind the app's current one
    version_impossible: bool | None = None  # older than the minimum or newer than the current version


UNKNOWN = UserAgentInfo("unknown", "unknown")


class UserAgentParser:
    """Parses User-Agents against the described apps, then ua-parser; with a bounded cache."""

    def __init__(self, apps: tuple[CompiledApp, ...] = (), cache_size: int = CACHE_SIZE) -> None:
        self.apps = apps
        self._cached = functools.lru_cache(maxsize=cache_size)(self._parse)

    def parse(self, ua: str) -> UserAgentInfo:
        if len(ua) > MAX_UA_CHARS:
            ua = ua[:MAX_UA_CHARS]
        return self._cached(ua)

    def _parse(self, ua: str) -> UserAgentInfo:
        ua = ua.strip()
        if not ua:
            return UNKNOWN
        for app in self.apps:
            m = app.match(ua)
            if m is not None:
                official = m.first_party and m.platform != "unknown"
                return UserAgentInfo("app", m.platform, official, m.app, m.app, m.version, m.version_age,
                                     m.version_impossible)
        family, platform, name = classify(ua)
        for app in self.apps:
            if ua.startswith(app.name_prefixes):  # claims the app, in no shape the app sends
                return UserAgentInfo("app", platform, False, app.spec.name, app.spec.name)
        return UserAgentInfo(family, platform, False, name)


_default_parser = UserAgentParser()


def parse_user_agent(ua: str) -> UserAgentInfo:
    """Parse a User-Agent with no described apps: browsers, libraries, automation."""
    return _default_parser.parse(ua)
