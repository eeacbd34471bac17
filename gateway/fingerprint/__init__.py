"""Where a request comes from and what it claims to be: client IP, network, User-Agent, TLS, device.

    fingerprinter = Fingerprinter(settings)   # opens and checks the GeoIP databases
    fp = fingerprinter.fingerprint(facts)     # a Fingerprint, microseconds on a cache hit

The device-id and TLS-fingerprint headers are believed only when the
immediate peer is a trusted proxy; anyone else could set them.
"""

from __future__ import annotations

import dataclasses
import functools

from gateway.facts import RequestFacts
from gateway.fingerprint.apps import client_ids, compile_apps
from gateway.fingerprint.client_ip import ClientIP, normalise_ip, prefix_of
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.fingerprint.geoip import GeoIP, GeoRecord
from gateway.fingerprint.net_class import NET_CLASSES, net_class
from gateway.fingerprint.tls import (
    MAX_FINGERPRINT_CHARS,
    TLSTable,
    clean_fingerprint,
    tls_consistent,
)
from gateway.fingerprint.user_agent import (
    MAX_UA_CHARS,
    UserAgentInfo,
    UserAgentParser,
    parse_user_agent,
)
from gateway.settings import Settings

__all__ = [
    "NET_CLASSES",
    "ClientIP",
    "Fingerprint",
    "Fingerprinter",
    "GeoIP",
    "GeoRecord",
    "TLSTable",
    "client_ids",
    "UserAgentInfo",
    "UserAgentParser",
    "net_class",
    "normalise_ip",
    "parse_user_agent",
    "prefix_of",
    "tls_consistent",
]

MAX_DEVICE_ID_CHARS = 128  # a device id is short; longer values are cut so state keys stay small
EXPECTED_HEADERS = ("user-agent", "accept", "accept-language")  # real clients always send these
TLS_CACHE_SIZE = 4096

# Fingerprint is built positionally: with 18 fields, keywords cost about a microsecond
# more per request. If the dataclass's field order ever changes, keywords are used instead.
_FIELD_ORDER = (
    "ip", "prefix", "net_class", "asn", "as_org", "country", "lat", "lon", "device_id", "user_agent",
    "ua_family", "ua_platform", "ua_official_app", "tls", "tls_platform", "tls_consistent", "headers_missing",
    "residential_proxy", "ua_info",
)  # fmt: skip
_POSITIONAL = tuple(f.name for f in dataclasses.fields(Fingerprint))[: len(_FIELD_ORDER)] == _FIELD_ORDER


class Fingerprinter:
    """Builds a Fingerprint for each request; GeoIP databases are opened (and checked) here."""

    def __init__(self, settings: Settings) -> None:
        network = settings.network
        self.client_ip = ClientIP(network.trusted_proxies, network.forwarded_header)
        self.geoip = GeoIP(settings.geoip, resolve=settings.resolve)
        self.user_agents = UserAgentParser(compile_apps(settings.apps))
        self.tls = TLSTable(settings.apps)
        self._device_header = network.device_header.lower()
        self._tls_header = network.tls_header.lower()
        # One entry per client IP: its prefix, GeoIP record and class, worked out once.
        self._network = functools.lru_cache(maxsize=max(1, settings.geoip.cache_size))(self._network_uncached)
        self._tls_info = functools.lru_cache(maxsize=TLS_CACHE_SIZE)(self._tls_info_uncached)

    def _tls_info_uncached(self, raw: str) -> tuple[str | None, tuple[str, ...]]:
        fingerprint = clean_fingerprint(raw)
        return fingerprint, self.tls.labels(fingerprint)

    def _network_uncached(self, ip: str) -> tuple[str, GeoRecord, str]:
        record = self.geoip.lookup_uncached(ip)
        return prefix_of(ip), record, net_class(record, self.geoip.hosting_asns)

    def network(self, ip: str) -> tuple[str, GeoRecord, str]:
        """(prefix, GeoIP record, network class) of a normalised IP, cached."""
        return self._network(ip)

    def fingerprint(self, facts: RequestFacts) -> Fingerprint:
        headers = facts.headers
        ip, trusted = self.client_ip.resolve(facts.peer, headers)
        prefix, geo, cls = self._network(ip)
        ua = headers.get("user-agent") or ""
        if len(ua) > MAX_UA_CHARS:
            ua = ua[:MAX_UA_CHARS]
        info = self.user_agents.parse(ua)
        device = tls = tls_platform = consistent = None
        if trusted:
            device = headers.get(self._device_header) or None
            if device is not None and len(device) > MAX_DEVICE_ID_CHARS:
                device = device[:MAX_DEVICE_ID_CHARS]
            raw_tls = headers.get(self._tls_header)
            if raw_tls:
                tls, labels = self._tls_info(raw_tls[: MAX_FINGERPRINT_CHARS + 1])
                tls_platform, consistent = self.tls.judge(tls, labels, info)
        missing = 0
        for name in EXPECTED_HEADERS:
            if not headers.get(name):
                missing += 1
        values = (
            ip, prefix, cls, geo.asn, geo.as_org, geo.country, geo.lat, geo.lon, device, ua,
            info.family, info.platform, info.official_app, tls, tls_platform,
            consistent, missing, geo.is_residential_proxy, info,
        )  # fmt: skip
        if _POSITIONAL:
            return Fingerprint(*values)
        return Fingerprint(**dict(zip(_FIELD_ORDER, values, strict=True)))

    def close(self) -> None:
        self.geoip.close()
