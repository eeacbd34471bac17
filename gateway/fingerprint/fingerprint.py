"""What the request looks like on the wire: where it comes from and what it claims to be."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.fingerprint.user_agent import UserAgentInfo


@dataclass(slots=True)
class Fingerprint:
    ip: str  # client IP, after the trusted-proxy walk
    prefix: str  # /24 for IPv4, /64 for IPv6, in CIDR notation
    net_class: str  # hosting, vpn, tor, mobile, residential, unknown
    asn: int | None = None
    as_org: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    device_id: str | None = None  # from the device header, only from a trusted peer
    user_agent: str = ""
    ua_family: str = "unknown"  # app, browser, http-library, automation, unknown
    ua_platform: str = "unknown"  # android, ios, windows, macos, linux, unknown
    ua_official_app: bool = False
    tls: str | None = None  # JA3/JA4 from the TLS header, only from a trusted peer
    tls_platform: str | None = None
    tls_consistent: bool | None = None  # None when there is no TLS fingerprint or no table entry
    headers_missing: int = 0
    residential_proxy: bool = False  # the anonymous-IP database flags the address as a residential proxy exit
    ua_info: UserAgentInfo | None = None  # the whole User-Agent parse: the described app, its version
