"""Which data source gives which network classes and features: the one table of it.

``gateway doctor``, the report the engine logs at start and the README's
source table all read this module. A source is something the configured data
can tell (``location`` needs a City database, a Country one gives only
``country``); ``coverage`` turns the sources at hand into what rules can rely
on: the network classes that can occur, the features that are always absent
and those that are always one value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.fingerprint.geoip import GeoIP
from gateway.fingerprint.net_class import NET_CLASSES
from gateway.signals.travel import ANONYMIZING


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    key: str  # the config key that provides it
    gives: str
    without: str


SOURCES = (
    Source("asn", "geoip.asn", "`net.asn`, `net.as_org`, `session.asn_changed`, `account.asns_24h`; the ASN lists "
           "below apply through it", "those features are absent and no ASN list applies"),
    Source("country", "geoip.city", "`net.country`, `session.country_changed`, `account.countries_24h`",
           "those features are absent"),
    Source("location", "geoip.city (a City database)", "latitude and longitude: `session.travel_km`, "
           "`session.speed_kmh`, `account.travel_km`, `account.speed_kmh`",
           "no impossible-travel features (a Country database gives no location)"),
    Source("anonymous_ip", "geoip.anonymous_ip", "class `tor`; `vpn` (VPN exits, public proxies); `hosting`; "
           "`net.residential_proxy`", "no `tor` class at all, `vpn` and `hosting` only from the lists below; "
           "`net.residential_proxy` is always false"),
    Source("connection_type", "geoip.connection_type", "classes `mobile` (Cellular) and `residential` (Cable/DSL, "
           "Dialup, Satellite, Corporate)", "no `residential` class at all; `mobile` only from `geoip.mobile_asns`"),
    Source("cloud_ranges", "geoip.cloud_ranges", "class `hosting` for addresses AWS, Google Cloud and Azure publish "
           "as theirs, per prefix", "cloud addresses are `hosting` only if another source says so"),
    Source("hosting_asns", "geoip.hosting_asns (with geoip.asn)", "class `hosting` for whole ASNs (VPS hosts, "
           "clouds without a range file)", "those ASNs are `hosting` only if another source says so"),
    Source("vpn_asns", "geoip.vpn_asns (with geoip.asn)", "class `vpn` for VPN providers' own ASNs",
           "`vpn` only from the anonymous-IP database"),
    Source("mobile_asns", "geoip.mobile_asns (with geoip.asn)", "class `mobile` for carriers' ASNs where "
           "Connection-Type has no record", "`mobile` only from the Connection-Type database"),
)
KEYS = {s.name: s.key for s in SOURCES}

# What each class needs, as net_class decides it: any one of these sets of sources.
CLASS_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "tor": (("anonymous_ip",),),
    "vpn": (("anonymous_ip",), ("asn", "vpn_asns")),
    "hosting": (("anonymous_ip",), ("cloud_ranges",), ("asn", "hosting_asns")),
    "mobile": (("connection_type",), ("asn", "mobile_asns")),
    "residential": (("connection_type",),),
    "unknown": ((),),
}
ABSENT = object()  # a feature that is never present
# Features that need one source: what they are without it.
FEATURE_NEEDS: dict[str, tuple[str, object]] = {
    "net.asn": ("asn", ABSENT),
    "net.as_org": ("asn", ABSENT),
    "session.asn_changed": ("asn", ABSENT),
    "account.asns_24h": ("asn", ABSENT),
    "net.country": ("country", ABSENT),
    "session.country_changed": ("country", ABSENT),
    "account.countries_24h": ("country", ABSENT),
    "session.travel_km": ("location", ABSENT),
    "session.speed_kmh": ("location", ABSENT),
    "account.travel_km": ("location", ABSENT),
    "account.speed_kmh": ("location", ABSENT),
    "net.residential_proxy": ("anonymous_ip", False),
}
# Features whose value is a network class this data gives (session.born_class is not: a token claim can set it).
CLASS_FEATURES = ("net.class", "session.prev_class", "account.prev_class")
# Features read off the class being hosting, vpn or tor: their value when no source gives any of those.
ANONYMIZER_FEATURES: dict[str, object] = {
    "net.anonymizer": False,
    "session.travel_anonymized": False,
    "account.travel_anonymized": False,
    "target.anonymized_share_5m": 0.0,
}


def sources_of(geoip: GeoIP) -> frozenset[str]:
    """The sources an opened GeoIP gives (an empty ASN list gives nothing)."""
    have = set()
    databases = geoip.databases
    for slot in ("asn", "anonymous_ip", "connection_type"):
        if slot in databases:
            have.add(slot)
    if "city" in databases:
        have.add("country")
        if "Country" not in databases["city"]:
            have.add("location")
    have.update(key for key, asns in geoip.asn_lists.items() if asns)
    if geoip.cloud_ranges:
        have.add("cloud_ranges")
    return frozenset(have)


@dataclass(frozen=True, slots=True)
class Coverage:
    """What rules can rely on with some set of sources."""

    sources: frozenset[str]
    classes: tuple[str, ...]  # the classes that can occur, in NET_CLASSES order
    missing_classes: dict[str, str]  # class -> what would give it
    absent: dict[str, str]  # feature -> what would give it
    constant: dict[str, tuple[object, str]]  # feature -> (its only value, what would give others)

    @property
    def domains(self) -> Mapping[str, frozenset[str]]:
        """Class-valued features -> the values they can take."""
        return {name: frozenset(self.classes) for name in CLASS_FEATURES}


def needs_text(options: tuple[tuple[str, ...], ...]) -> str:
    """('anonymous_ip',), ('asn', 'vpn_asns') -> 'geoip.anonymous_ip, or geoip.asn with geoip.vpn_asns'."""
    return ", or ".join(" with ".join(_key(s) for s in option) for option in options)


def _key(source: str) -> str:
    return KEYS[source].split(" ")[0] if source != "location" else "a City database in geoip.city"


def coverage(have: frozenset[str]) -> Coverage:
    classes, missing = [], {}
    for cls in NET_CLASSES:
        options = CLASS_NEEDS[cls]
        if any(set(option) <= have for option in options):
            classes.append(cls)
        else:
            missing[cls] = needs_text(options)
    absent: dict[str, str] = {}
    constant: dict[str, tuple[object, str]] = {}
    for feature, (source, without) in FEATURE_NEEDS.items():
        if source not in have:
            if without is ABSENT:
                absent[feature] = _key(source)
            else:
                constant[feature] = (without, _key(source))
    anonymizing = [c for c in classes if c in ANONYMIZING]
    if not anonymizing:
        needs = needs_text(tuple(dict.fromkeys(o for c in sorted(ANONYMIZING) for o in CLASS_NEEDS[c])))
        for feature, value in ANONYMIZER_FEATURES.items():
            constant[feature] = (value, needs)
    if classes == ["unknown"]:
        for feature in CLASS_FEATURES:
            constant[feature] = ("unknown", "any source of a network class")
    return Coverage(have, tuple(classes), missing, absent, constant)
