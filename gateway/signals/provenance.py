"""Provenance: how a session was born, and how its later use differs.

The birth record is one short string, ``|``-separated:
``origin|ts|prefix|asn|class|country|device|platform|tls|client|ua`` where
origin is ``t`` (seen at the token endpoint) or ``u`` (first use: the gateway
never saw the birth), and device, tls and ua are 8-hex CRC-32 digests (equality
is all that is compared, and the record stays small). The session's own IP is
not kept: the prefix, ASN and class say more and cost less.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

# Token claims that describe the network the token was issued to, when the
# issuer adds them; they override what the gateway saw at the token endpoint
# (the token may be minted by a backend on the client's behalf).
CLAIM_IP = "ip"
CLAIM_ASN = "asn"
CLAIM_CLASS = "net_class"
CLAIM_COUNTRY = "country"


def prefix_of(ip: str) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) of an address, or None if it is not one."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    bits = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def encode(origin: str, ts: float, prefix: str, asn: int | None, net_class: str, country: str | None,
           device_digest: str, platform: str, tls_digest: str, client: str | None, ua_digest: str) -> str:
    client_s = (client or "").replace("|", "/")
    return (f"{origin}|{ts:.3f}|{prefix}|{'' if asn is None else asn}|{net_class}|{country or ''}|"
            f"{device_digest}|{platform}|{tls_digest}|{client_s}|{ua_digest}")


def birth_values(claims: Mapping[str, object], prefix: str, asn: int | None, net_class: str,
                 country: str | None) -> tuple[str, int | None, str, str | None]:
    """The birth network: the gateway's view, overridden by the token's network claims."""
    ip = claims.get(CLAIM_IP)
    if isinstance(ip, str):
        claimed = prefix_of(ip)
        if claimed is not None and claimed != prefix:
            # Another address than the one seen: what was looked up for the seen one does not apply.
            prefix, asn, net_class, country = claimed, None, "unknown", None
    a = claims.get(CLAIM_ASN)
    if isinstance(a, int) and not isinstance(a, bool):
        asn = a
    c = claims.get(CLAIM_CLASS)
    if isinstance(c, str) and c:
        net_class = c
    cc = claims.get(CLAIM_COUNTRY)
    if isinstance(cc, str) and cc:
        country = cc.upper()
    return prefix, asn, net_class, country


_BIRTHS: dict[str, list] = {}  # birth record -> its fields, parsed
_BIRTHS_MAX = 8192


def compare(record: str, now: float, asn: int | None, net_class: str, country: str | None,
            device_digest: str, platform: str, tls_digest: str, client: str | None, ua_digest: str,
            out: dict) -> None:
    """Write the session.* features from a stored birth record."""
    f = _BIRTHS.get(record)
    if f is None:
        f = record.split("|")
        if len(f) != 11:
            return
        try:
            f[1] = float(f[1])
        except ValueError:
            return
        if len(_BIRTHS) >= _BIRTHS_MAX:
            _BIRTHS.clear()  # a flood of sessions costs re-parsing, never memory
        _BIRTHS[record] = f
    born = f[1]
    out["session.known"] = True
    out["session.birth_observed"] = f[0] == "t"
    age = now - born
    out["session.age_s"] = age if age > 0.0 else 0.0
    out["session.born_class"] = f[4]
    if f[5]:
        out["session.born_country"] = f[5]
    if f[3] and asn is not None:
        out["session.asn_changed"] = f[3] != str(asn)
    out["session.class_changed"] = f[4] != net_class
    if f[5] and country:
        out["session.country_changed"] = f[5] != country
    if f[6] and device_digest:
        out["session.device_changed"] = f[6] != device_digest
    out["session.platform_changed"] = f[7] != platform
    if f[8] and tls_digest:
        out["session.tls_changed"] = f[8] != tls_digest
    if f[9] and client:
        out["session.client_changed"] = f[9] != client.replace("|", "/")
    out["session.ua_changed"] = f[10] != ua_digest
