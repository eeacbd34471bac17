"""What simulated clients look like on the wire: user agents, TLS fingerprints, languages."""

from __future__ import annotations

import random
from dataclasses import dataclass

try:  # the demo's example fingerprints, which the demo config lists
    from gateway.demo.tls import DEMO_TLS as KNOWN_TLS
except ImportError:  # a tree where they still live in the fingerprint table
    from gateway.fingerprint.tls import KNOWN_TLS

APP_VERSIONS = ("412.0.1", "411.2.0", "410.0.3")
ANDROID_MODELS = ("Pixel 8", "Pixel 7a", "SM-S918B", "SM-A546E", "moto g84")
IPHONE_MODELS = ("iPhone15,2", "iPhone14,5", "iPhone16,1", "iPhone13,2")
LOCALES = {"US": "en_US", "CA": "en_CA", "GB": "en_GB", "IE": "en_IE", "AU": "en_AU", "NZ": "en_NZ",
           "DE": "de_DE", "FR": "fr_FR", "BR": "pt_BR", "MX": "es_MX", "CL": "es_CL", "IN": "en_IN",
           "JP": "ja_JP", "NG": "en_NG", "KE": "en_KE", "ZA": "en_ZA", "SG": "en_SG", "NL": "nl_NL",
           "SE": "sv_SE", "CH": "de_CH", "FI": "fi_FI", "RO": "ro_RO", "PA": "es_PA", "IS": "is_IS"}

BROWSERS = {
    "chrome-windows": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/124.0.0.0 Safari/537.36", "chrome"),
    "chrome-macos": ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/124.0.0.0 Safari/537.36", "chrome"),
    "safari-macos": ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                     "Version/17.4 Safari/605.1.15", "safari"),
    "firefox-linux": ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "firefox"),
    "firefox-windows": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "firefox"),
    "chrome-android": ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/124.0.0.0 Mobile Safari/537.36", "chrome"),
    "safari-ios": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                   "Version/17.4 Mobile/15E148 Safari/604.1", "safari"),
}
TOOLS = {
    "python-requests": "python-requests/2.31.0",
    "curl": "curl/8.5.0",
    "go": "Go-http-client/2.0",
    "okhttp": "okhttp/4.12.0",
}

# Client stack -> the fingerprint table's name for it.
_TLS_NAMES = {
    "android-app": "android_app", "ios-app": "ios_app", "chrome": "chrome_desktop", "safari": "safari",
    "firefox": "firefox", "python-requests": "python_requests", "curl": "curl", "go": "go", "okhttp": "okhttp",
}


def tls_for(stack: str) -> str:
    """The example JA4 of a client stack (android-app, ios-app, chrome, safari, firefox, or a tool name)."""
    return KNOWN_TLS[_TLS_NAMES[stack]]


@dataclass(frozen=True, slots=True)
class Device:
    """A client as the gateway sees it: app id, device id, user agent, TLS, language."""

    client_id: str
    device_id: str | None
    user_agent: str
    ja4: str | None
    accept_language: str | None
    platform: str
    accept: str = "application/json"


def _lang(country: str) -> str:
    loc = LOCALES.get(country, "en_US")
    return f"{loc.replace('_', '-')},{loc[:2]};q=0.9"


def app_device(rng: random.Random, country: str, platform: str | None = None) -> Device:
    """The platform's own app on a phone."""
    platform = platform or ("android" if rng.random() < 0.6 else "ios")
    version = rng.choice(APP_VERSIONS)
    loc = LOCALES.get(country, "en_US")
    if platform == "android":
        ua = f"Engage/{version} (Android {rng.choice((13, 14))}; {rng.choice(ANDROID_MODELS)}; {loc})"
        client, stack = "engage-android", "android-app"
    else:
        ua = f"Engage/{version} (iOS {rng.choice(('17.4', '17.3', '16.7'))}; {rng.choice(IPHONE_MODELS)}; {loc})"
        client, stack = "engage-ios", "ios-app"
    return Device(client, new_device_id(rng), ua, tls_for(stack), _lang(country), platform)


def browser_device(rng: random.Random, country: str, name: str | None = None) -> Device:
    """The web app in a browser."""
    name = name or rng.choice(tuple(BROWSERS))
    ua, stack = BROWSERS[name]
    platform = name.split("-")[1]
    return Device("engage-web", new_device_id(rng), ua, tls_for(stack), _lang(country), platform,
                  accept="application/json, text/plain, */*")


def tool_device(tool: str, device_id: str | None, client_id: str = "engage-android") -> Device:
    """An HTTP library pretending to be a client: no language, its own TLS stack."""
    return Device(client_id, device_id, TOOLS[tool], tls_for(tool), None, "unknown", accept="*/*")


def new_device_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-{0x8000 | rng.getrandbits(14):04x}-{rng.getrandbits(48):012x}"
