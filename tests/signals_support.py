"""Shared helpers for the signal tests: hand-built principals and fingerprints, one driver.

No tests live here. The driver runs the collector exactly as the engine does:
plan -> one ``await store.exchange(ops, now)`` -> features, on an injected
clock, against the real in-memory store.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.auth.principal import Principal
from gateway.facts import RequestFacts
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.fingerprint.user_agent import UserAgentInfo
from gateway.settings import Apps, Auth, Settings
from gateway.signals.collector import SignalCollector
from gateway.state.memory import MemoryStore

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a midnight, so hours of the day line up

ANDROID_UA = "Engage/312.0 (Android 14; Pixel 8)"
ANDROID_TLS = "t13d1516h2_8daaf6152771_02713d6af862"
ANDROID_APP = UserAgentInfo("app", "android", True, "Engage", "Engage", "312.0", 0, False)  # the parse of ANDROID_UA
PYTHON_UA = "python-requests/2.32.3"
PYTHON_TLS = "t13d1812h1_85036bcba153_375ca2c5e164"
BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
BROWSER_TLS = "t13d1715h2_5b57614c22b0_3d5424432f57"

# Places, for travel.
LONDON = (51.5072, -0.1276)
NEW_YORK = (40.7128, -74.0060)
PARIS = (48.8566, 2.3522)
ASHBURN = (39.0438, -77.4874)  # where many datacenters (and VPN exits) are


def settings() -> Settings:
    return Settings(apps=Apps(first_party=("engage-android", "engage-ios", "engage-web"),
                              third_party=("partner-scheduler",)),
                    auth=Auth(action_scopes={"like": "like", "comment": "comment", "follow": "follow"}))


def principal(account: str, session: str | None = None, *, client: str = "engage-android",
              device: str | None = None, issued_at: float = T0, claims: dict | None = None,
              bound: bool = False, dpop_valid: bool | None = None,
              scopes: tuple[str, ...] | None = None) -> Principal:
    return Principal(
        subject=account,
        session_id=session or f"sess-{account}",
        client_id=client,
        device_id=device,
        issued_at=issued_at,
        expires_at=issued_at + 3600.0,
        kind="jwt",
        token_hash="0" * 64,
        claims=claims or {},
        bound_jkt="jkt-thumbprint" if bound else None,
        dpop_valid=dpop_valid,
        scopes=scopes,
    )


def phone(ip: str = "100.64.10.7", *, device: str | None = "android-dev-1", asn: int = 64510,
          country: str = "GB", where: tuple[float, float] = LONDON) -> Fingerprint:
    """An Android phone on a mobile carrier (CGNAT range by default)."""
    return Fingerprint(
        ip=ip, prefix=_prefix(ip), net_class="mobile", asn=asn, as_org="Example Mobile", country=country,
        lat=where[0], lon=where[1], device_id=device, user_agent=ANDROID_UA, ua_family="app",
        ua_platform="android", ua_official_app=True, tls=ANDROID_TLS, tls_platform="android",
        tls_consistent=True, headers_missing=0, ua_info=ANDROID_APP,
    )


def office(ip: str = "198.51.100.20", *, device: str | None = None, country: str = "GB",
           where: tuple[float, float] = LONDON) -> Fingerprint:
    """A browser on an office/home broadband line."""
    return Fingerprint(
        ip=ip, prefix=_prefix(ip), net_class="residential", asn=64600, as_org="Example Broadband",
        country=country, lat=where[0], lon=where[1], device_id=device, user_agent=BROWSER_UA,
        ua_family="browser", ua_platform="macos", ua_official_app=False, tls=BROWSER_TLS,
        tls_platform="macos", tls_consistent=True, headers_missing=0,
    )


def server(ip: str = "203.0.113.50", *, asn: int = 64496, net_class: str = "hosting",
           where: tuple[float, float] = ASHBURN, ua: str = PYTHON_UA, tls: str | None = PYTHON_TLS,
           platform: str = "linux", device: str | None = None) -> Fingerprint:
    """A script in a datacenter (or a VPN exit, with net_class='vpn')."""
    return Fingerprint(
        ip=ip, prefix=_prefix(ip), net_class=net_class, asn=asn, as_org="Example Cloud", country="US",
        lat=where[0], lon=where[1], device_id=device, user_agent=ua, ua_family="http-library",
        ua_platform=platform, ua_official_app=False, tls=tls, tls_platform="linux" if tls else None,
        tls_consistent=None, headers_missing=2,
    )


def moved(fp: Fingerprint, **changes: object) -> Fingerprint:
    return replace(fp, **changes)


def _prefix(ip: str) -> str:
    if ":" in ip:
        parts = ip.split(":")[:4]
        return ":".join(parts) + "::/64"
    return ".".join(ip.split(".")[:3]) + ".0/24"


class Driver:
    """Collector + MemoryStore on an injected clock, called the way the engine calls them."""

    def __init__(self, max_keys: int = 500_000, store: object | None = None) -> None:
        self.collector = SignalCollector(settings())
        self.store = store if store is not None else MemoryStore(max_keys=max_keys)

    async def birth(self, who: Principal, fp: Fingerprint, ts: float) -> None:
        facts = RequestFacts(ts=ts, method="POST", path="/oauth/token", peer="127.0.0.1", headers={})
        await self.store.exchange(self.collector.birth_ops(facts, who, fp), ts)

    async def act(self, who: Principal, fp: Fingerprint, ts: float, *, action: str = "like",
                  target: str | None = "media-1") -> dict:
        facts = RequestFacts(ts=ts, method="POST", path=f"/v1/media/{target}/like", peer="127.0.0.1",
                             headers={}, action=action, target=target)
        plan = self.collector.plan(facts, who, fp)
        result = await self.store.exchange(plan.ops, ts)
        assert len(result.values) == len(plan.ops)
        assert not result.degraded
        features = self.collector.features(plan, result.values)
        assert None not in features.values()
        return features
