"""The apps of the config (``apps.clients``), compiled: User-Agent patterns, version bounds, TLS stacks.

A described app's User-Agent patterns are re2 expressions matched from the
start of the User-Agent, with named groups ``version``, ``platform``,
``os_version`` and ``device``. The settings loader has already checked them.
"""

from __future__ import annotations

from dataclasses import dataclass

import re2

from gateway.settings import App, Apps, version_key

# What a pattern's platform group may say, lower-cased, and the platform it names.
PLATFORM_WORDS = {
    "android": "android", "ios": "ios", "iphone os": "ios", "ipados": "ios", "iphone": "ios", "ipad": "ios",
    "web": "web", "windows": "windows", "macos": "macos", "mac os x": "macos", "linux": "linux",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AppMatch:
    """What a described app's pattern read from a User-Agent."""

    app: str
    first_party: bool
    platform: str  # android, ios, ..., or unknown when the pattern names none the app ships on
    version: str | None
    version_age: int | None  # major versions behind current (first number), 0 at or past it
    version_impossible: bool | None  # older than minimum or newer than current; None without bounds


@dataclass(frozen=True, slots=True)
class CompiledApp:
    spec: App
    patterns: tuple[re2._Regexp, ...]
    name_prefixes: tuple[str, ...]  # "Name/" and "Name ": a claim to be the app, matched or not
    current: tuple[int, ...] | None
    minimum: tuple[int, ...] | None

    def match(self, ua: str) -> AppMatch | None:
        for pattern in self.patterns:
            m = pattern.match(ua)
            if m is not None:
                return self._read(m.groupdict())
        return None

    def _read(self, groups: dict[str, str | None]) -> AppMatch:
        spec = self.spec
        platform = "unknown"
        said = groups.get("platform")
        if said:
            platform = PLATFORM_WORDS.get(said.strip().lower(), "unknown")
        elif len(spec.platforms) == 1:
            platform = spec.platforms[0]
        if spec.platforms and platform not in spec.platforms:
            platform = "unknown"
        version = groups.get("version") or None
        age = impossible = None
        key = version_key(version) if version else None
        if key is not None and (self.current or self.minimum):
            impossible = bool((self.minimum and key < self.minimum) or (self.current and key > self.current))
            if self.current:
                age = max(0, self.current[0] - key[0])
        return AppMatch(spec.name, spec.kind == "first_party", platform, version, age, impossible)


def compile_apps(apps: Apps) -> tuple[CompiledApp, ...]:
    """The described apps with User-Agent patterns, in config order (the first that matches wins)."""
    compiled = []
    for app in apps.clients:
        if not app.user_agents:
            continue
        compiled.append(CompiledApp(
            app,
            tuple(re2.compile(p) for p in app.user_agents),
            (app.name + "/", app.name + " "),
            version_key(app.versions.current) if app.versions.current else None,
            version_key(app.versions.minimum) if app.versions.minimum else None,
        ))
    return tuple(compiled)


def client_ids(apps: Apps) -> tuple[frozenset[str], frozenset[str]]:
    """(first-party, third-party) client ids: the described apps' and the bare lists'."""
    first = set(apps.first_party)
    third = set(apps.third_party)
    for app in apps.clients:
        (first if app.kind == "first_party" else third).update(app.client_ids)
    return frozenset(first), frozenset(third)


def server_client_ids(apps: Apps) -> frozenset[str]:
    """Client ids of the described apps that act from servers (``server`` among their platforms)."""
    return frozenset(cid for app in apps.clients if "server" in app.platforms for cid in app.client_ids)
