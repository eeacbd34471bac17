"""The client's IP: the ASGI peer, or what trusted proxies say the client was.

Forwarding headers are read only when the immediate peer is a trusted proxy,
and then walked right to left: each proxy appends the address it received the
request from, so the rightmost entries are the ones our own proxies wrote. The
first entry that is not a trusted proxy is the client; anything to its left
was written by the client itself and is ignored (uvicorn's
ProxyHeadersMiddleware works the same way). An entry that is not an IP address
("unknown", an RFC 7239 obfuscated name, garbage) stops the walk: the client is
then the last address a trusted hop vouched for.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Mapping

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN_IP = "0.0.0.0"  # the client when the peer is not an IP (a unix socket, a test client)
MAX_HEADER_CHARS = 2048  # only the rightmost part of a longer forwarding header is read
PEER_CACHE_SIZE = 16_384
CACHED_HEADER_CHARS = 256  # longer headers are walked every time, so the cache stays small


def parse_ip(text: str) -> IPAddress | None:
    """An IP address from text, normalised; None when it is not one.

    IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) become IPv4 and IPv6 zone
    ids (``%eth0``) are dropped, so one client has one spelling.
    """
    text = text.strip()
    try:
        # Strict dotted quad, as ipaddress accepts, but several times faster.
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):  # ValueError: an embedded NUL, which client input can hold
        pass
    if "%" in text:
        text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def normalise_ip(text: str) -> str:
    """The canonical text of an IP address, or UNKNOWN_IP when it is not one."""
    ip = parse_ip(text)
    return UNKNOWN_IP if ip is None else str(ip)


def _strip_port(text: str) -> str:
    """'[2001:db8::1]:443' -> '2001:db8::1', '192.0.2.1:80' -> '192.0.2.1'; bare IPv6 is left alone."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def xff_hops(value: str) -> list[str]:
    """The hops of an X-Forwarded-For value, left to right, ports and brackets removed."""
    return [_strip_port(part) for part in value.split(",")]


def forwarded_hops(value: str) -> list[str]:
    """The ``for=`` hops of an RFC 7239 Forwarded value, left to right.

    An element with no ``for=`` parameter yields "" so the walk stops there.
    """
    hops = []
    for element in value.split(","):
        node = ""
        for pair in element.split(";"):
            name, sep, val = pair.partition("=")
            if sep and name.strip().lower() == "for":
                node = _strip_port(val)
                break
        hops.append(node)
    return hops


class ClientIP:
    """Works out the client IP from the peer and, through trusted proxies, a forwarding header."""

    def __init__(
        self,
        trusted_proxies: tuple[str, ...],
        header: str = "x-forwarded-for",
        cache_size: int = PEER_CACHE_SIZE,
    ) -> None:
        networks = [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in trusted_proxies]
        # Single addresses are checked with a set lookup; only real ranges need a scan.
        self._trusted_hosts = frozenset(n.network_address for n in networks if n.num_addresses == 1)
        self._trusted_ranges = tuple(n for n in networks if n.num_addresses > 1)
        self.header = header.lower()
        self._hops = forwarded_hops if self.header == "forwarded" else xff_hops
        # Client input keys these caches; functools.lru_cache bounds them.
        self._peer = functools.lru_cache(maxsize=cache_size)(self._peer_uncached)
        self._walk = functools.lru_cache(maxsize=cache_size)(self._walk_uncached)

    def is_trusted(self, ip: IPAddress) -> bool:
        if ip in self._trusted_hosts:
            return True
        return any(ip.version == n.version and ip in n for n in self._trusted_ranges)

    def resolve(self, peer: str, headers: Mapping[str, str]) -> tuple[str, bool]:
        """(client ip, whether the immediate peer is a trusted proxy)."""
        peer_ip, trusted = self._peer(peer)
        if not trusted:
            return peer_ip, False
        value = headers.get(self.header)
        if not value:
            return peer_ip, True
        if len(value) > MAX_HEADER_CHARS:
            # The hops that matter are on the right; a cut first entry just fails to parse.
            value = value[-MAX_HEADER_CHARS:]
        if len(value) > CACHED_HEADER_CHARS:
            return self._walk_uncached(peer_ip, value), True
        return self._walk(peer_ip, value), True

    def _peer_uncached(self, peer: str) -> tuple[str, bool]:
        ip = parse_ip(peer) if peer else None
        if ip is None:
            return UNKNOWN_IP, False
        return str(ip), self.is_trusted(ip)

    def _walk_uncached(self, peer_ip: str, value: str) -> str:
        client = peer_ip
        for hop in reversed(self._hops(value)):
            ip = parse_ip(hop)
            if ip is None:
                return client
            client = str(ip)
            if not self.is_trusted(ip):
                return client
        # Every hop was a trusted proxy: the leftmost is as far as anyone can see.
        return client


def prefix_of(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) holding an address, as CIDR text; IPv4-mapped IPv6 counts as IPv4.

    Text that is not an IP address gets the prefix of UNKNOWN_IP. Works on the
    packed address (socket.inet_pton), several times faster than ipaddress.
    """
    text = ip.strip().split("%", 1)[0]
    try:
        a, b, c, _ = socket.inet_pton(socket.AF_INET, text)
        return f"{a}.{b}.{c}.0/24"
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return "0.0.0.0/24"
    if packed[:12] == _IPV4_MAPPED:
        return f"{packed[12]}.{packed[13]}.{packed[14]}.0/24"
    # With the host half zero, inet_ntop's text is the same RFC 5952 form ipaddress writes.
    return socket.inet_ntop(socket.AF_INET6, packed[:8] + bytes(8)) + "/64"


_IPV4_MAPPED = bytes(10) + b"\xff\xff"
