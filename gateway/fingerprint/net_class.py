"""The network class of an IP: what kind of network a request comes from.

One of ``tor``, ``vpn``, ``hosting``, ``mobile``, ``residential``, ``unknown``;
the first rule that matches wins (gateway.fingerprint.sources says which
source gives which class, and what is lost without it):

1. tor: the anonymous-IP database marks a Tor exit node.
2. vpn: the anonymous-IP database marks a VPN exit or a public proxy, or the
   ASN is in the VPN-ASN list; the address stands in for someone else.
3. hosting: the anonymous-IP database's hosting-provider flag, a cloud's
   published range holds the address, or the ASN is in the hosting-ASN list
   (clouds and VPS hosts the anonymous-IP database may not flag).
4. mobile: connection type Cellular. Carrier-grade NAT puts hundreds of people
   behind one address, so sharing signals must be read with this class.
5. residential: connection type Cable/DSL, Dialup, Satellite or Corporate. An
   office network (Corporate) is people at desks and is judged like a home;
   MaxMind also types datacenters as Corporate, which is why the hosting
   checks come first. Residential proxies land here: they are real home lines,
   so the class alone cannot catch them (``GeoRecord.is_residential_proxy``
   carries the flag separately).
6. mobile: the ASN is in the mobile-carrier ASN list. After Connection-Type,
   which types each network, because carriers' ASNs also carry fixed lines.
7. unknown: no source said anything that decides it.
"""

from __future__ import annotations

from collections.abc import Container

from gateway.fingerprint.geoip import GeoRecord

NET_CLASSES = ("hosting", "vpn", "tor", "mobile", "residential", "unknown")
RESIDENTIAL_CONNECTIONS = frozenset({"Cable/DSL", "Dialup", "Satellite", "Corporate"})


def net_class(record: GeoRecord, hosting_asns: Container[int] = frozenset()) -> str:
    if record.is_tor:
        return "tor"
    if record.is_vpn or record.is_public_proxy or record.asn_listed == "vpn":
        return "vpn"
    if record.is_hosting or record.cloud is not None or (record.asn is not None and record.asn in hosting_asns):
        return "hosting"
    if record.connection_type == "Cellular":
        return "mobile"
    if record.connection_type in RESIDENTIAL_CONNECTIONS:
        return "residential"
    if record.asn_listed == "mobile":
        return "mobile"
    return "unknown"
