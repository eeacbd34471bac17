"""Where a request comes from and what it claims to be: client IP, network, User-Agent, TLS, device.

    fingerprinter = Fingerprinter(settings)   # opens and checks the GeoIP databases
    fp = fingerprinter.fingerprint(facts)     # a Fingerprint, microseconds on a cache hit

The device-id and TLS-fingerprint headers are believed only when the
immediate peer is a trusted proxy; anyone else could set them.
"""

from __future__ import annotations

import functools

from gateway.facts import RequestFacts
from gateway.fingerprint.client_ip import ClientIP, normalise_ip, prefix_of
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.fingerprint.geoip import GeoIP, GeoRecord
from gateway.fingerprint.net_class import NET_CLASSES, net_class
from gateway.fingerprint.tls import KNOWN_TLS, TLSTable, clean_fingerprint, tls_consistent
from gateway.fingerprint.user_agent import (
    DEFAULT_APP_NAME,
    MAX_UA_CHARS,
    UserAgentInfo,
    UserAgentParser,
    parse_user_agent,
)
from gateway.settings import Settings

__all__ = [
    "KNOWN_TLS",
    "NET_CLASSES",
    "ClientIP",
    "Fingerprint",
    "Fingerprinter",
    "GeoIP",
    "GeoRecord",
    "TLSTable",
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


class Fingerprinter:
    """Builds a Fingerprint for each request; GeoIP databases are opened (and checked) here."""

    def __init__(self, settings: Settings, *, app_name: str = DEFAULT_APP_NAME) -> None:
        network = settings.network
        self.client_ip = ClientIP(network.trusted_proxies, network.forwarded_header)
        self.geoip = GeoIP(settings.geoip, resolve=settings.resolve)
        self.user_agents = UserAgentParser(app_name)
        self.tls = TLSTable(settings.apps.tls_platforms)
        self._device_header = network.device_header.lower()
        self._tls_header = network.tls_header.lower()
        # One entry per client IP: its prefix, GeoIP record and class, worked out once.
        self._network = functools.lru_cache(maxsize=max(1, settings.geoip.cache_size))(self._network_uncached)

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
        device = tls = tls_platform = None
        if trusted:
            device = headers.get(self._device_header) or None
            if device is not None and len(device) > MAX_DEVICE_ID_CHARS:
                device = device[:MAX_DEVICE_ID_CHARS]
            tls = clean_fingerprint(headers.get(self._tls_header))
            tls_platform = self.tls.platform(tls)
        missing = 0
        for name in EXPECTED_HEADERS:
            if not headers.get(name):
                missing += 1
        return Fingerprint(
            ip=ip,
            prefix=prefix,
            net_class=cls,
            asn=geo.asn,
            as_org=geo.as_org,
            country=geo.country,
            lat=geo.lat,
            lon=geo.lon,
            device_id=device,
            user_agent=ua,
            ua_family=info.family,
            ua_platform=info.platform,
            ua_official_app=info.official_app,
            tls=tls,
            tls_platform=tls_platform,
            tls_consistent=tls_consistent(tls_platform, info.family, info.platform),
            headers_missing=missing,
        )

    def close(self) -> None:
        self.geoip.close()
