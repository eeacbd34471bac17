"""Client IP through trusted proxies: spoofing ignored, right-to-left walk, Forwarded, IPv6, prefixes."""

from __future__ import annotations

import pytest

from gateway.fingerprint.client_ip import (
    MAX_HEADER_CHARS,
    UNKNOWN_IP,
    ClientIP,
    forwarded_hops,
    normalise_ip,
    prefix_of,
)

PROXIES = ("127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8")


@pytest.fixture
def xff() -> ClientIP:
    return ClientIP(PROXIES)


@pytest.fixture
def fwd() -> ClientIP:
    return ClientIP(PROXIES, header="forwarded")


def test_spoofed_xff_from_untrusted_peer_is_ignored(xff: ClientIP) -> None:
    assert xff.resolve("203.0.113.9", {"x-forwarded-for": "1.2.3.4"}) == ("203.0.113.9", False)


def test_trusted_peer_without_header_is_the_client(xff: ClientIP) -> None:
    assert xff.resolve("127.0.0.1", {}) == ("127.0.0.1", True)


def test_single_hop_through_trusted_proxy(xff: ClientIP) -> None:
    assert xff.resolve("127.0.0.1", {"x-forwarded-for": "198.51.100.7"}) == ("198.51.100.7", True)


def test_walk_right_to_left_skips_trusted_hops_and_ignores_client_written_entries(xff: ClientIP) -> None:
    # The client wrote 6.6.6.6 itself; our proxies appended 198.51.100.7 and 10.1.2.3.
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.1.2.3"}
    assert xff.resolve("10.0.0.1", headers) == ("198.51.100.7", True)


def test_all_hops_trusted_gives_leftmost(xff: ClientIP) -> None:
    assert xff.resolve("10.0.0.1", {"x-forwarded-for": "10.9.9.9, 10.1.1.1"}) == ("10.9.9.9", True)


def test_invalid_entry_stops_the_walk_at_the_last_vouched_address(xff: ClientIP) -> None:
    assert xff.resolve("10.0.0.1", {"x-forwarded-for": "6.6.6.6, unknown, 10.1.2.3"}) == ("10.1.2.3", True)
    assert xff.resolve("10.0.0.1", {"x-forwarded-for": "garbage"}) == ("10.0.0.1", True)
    assert xff.resolve("10.0.0.1", {"x-forwarded-for": "1.2.3.4,"}) == ("10.0.0.1", True)


def test_xff_ports_and_brackets(xff: ClientIP) -> None:
    assert xff.resolve("127.0.0.1", {"x-forwarded-for": "198.51.100.7:5555"})[0] == "198.51.100.7"
    assert xff.resolve("127.0.0.1", {"x-forwarded-for": "[2001:db8::5]:443"})[0] == "2001:db8::5"
    assert xff.resolve("127.0.0.1", {"x-forwarded-for": "2001:DB8:0::5"})[0] == "2001:db8::5"


def test_overlong_header_reads_only_the_right_end(xff: ClientIP) -> None:
    value = ", ".join(["6.6.6.6"] * 2000) + ", 198.51.100.7"
    assert len(value) > MAX_HEADER_CHARS
    assert xff.resolve("127.0.0.1", {"x-forwarded-for": value}) == ("198.51.100.7", True)


def test_overlong_header_of_trusted_hops_never_raises(xff: ClientIP) -> None:
    value = ", ".join(["10.0.0.7"] * 1000)
    ip, trusted = xff.resolve("127.0.0.1", {"x-forwarded-for": value})
    assert trusted and ip.startswith("10.")


def test_forwarded_forms(fwd: ClientIP) -> None:
    cases = {
        "for=192.0.2.60;proto=http;by=203.0.113.43": "192.0.2.60",
        'for="192.0.2.60:8080"': "192.0.2.60",
        'For="[2001:db8:cafe::17]:4711"': "2001:db8:cafe::17",
        'for="[2001:db8:cafe::17]"': "2001:db8:cafe::17",
        "for=6.6.6.6, for=198.51.100.7;proto=https, for=10.2.2.2": "198.51.100.7",
        "proto=https;for=198.51.100.8": "198.51.100.8",
    }
    for value, expected in cases.items():
        assert fwd.resolve("127.0.0.1", {"forwarded": value}) == (expected, True), value


def test_forwarded_obfuscated_or_missing_for_stops_the_walk(fwd: ClientIP) -> None:
    assert fwd.resolve("10.0.0.1", {"forwarded": "for=_hidden, for=10.3.3.3"}) == ("10.3.3.3", True)
    assert fwd.resolve("10.0.0.1", {"forwarded": "for=unknown"}) == ("10.0.0.1", True)
    assert fwd.resolve("10.0.0.1", {"forwarded": "proto=https;by=10.0.0.2"}) == ("10.0.0.1", True)


def test_forwarded_mode_ignores_xff(fwd: ClientIP) -> None:
    assert fwd.resolve("127.0.0.1", {"x-forwarded-for": "1.2.3.4"}) == ("127.0.0.1", True)


def test_forwarded_hops_parse() -> None:
    assert forwarded_hops('for=1.2.3.4;by=x, for="[::1]:80"') == ["1.2.3.4", "::1"]


def test_ipv6_peer_and_trusted_range(xff: ClientIP) -> None:
    assert xff.resolve("::1", {"x-forwarded-for": "2001:db8:1::9"}) == ("2001:db8:1::9", True)
    assert xff.resolve("fd00::5", {"x-forwarded-for": "2001:db8:1::9"}) == ("2001:db8:1::9", True)
    assert xff.resolve("2001:db8::1", {"x-forwarded-for": "1.2.3.4"}) == ("2001:db8::1", False)


def test_ipv4_mapped_peer_is_ipv4_and_can_be_trusted(xff: ClientIP) -> None:
    assert xff.resolve("::ffff:127.0.0.1", {"x-forwarded-for": "198.51.100.7"}) == ("198.51.100.7", True)
    assert xff.resolve("::ffff:198.51.100.7", {}) == ("198.51.100.7", False)


@pytest.mark.parametrize("peer", ["testclient", "", "unix:/run/gw.sock", "999.1.1.1"])
def test_unparsable_peer_is_unknown_and_untrusted(xff: ClientIP, peer: str) -> None:
    assert xff.resolve(peer, {"x-forwarded-for": "1.2.3.4"}) == (UNKNOWN_IP, False)


def test_no_trusted_proxies_means_only_the_peer_counts() -> None:
    c = ClientIP(())
    assert c.resolve("127.0.0.1", {"x-forwarded-for": "1.2.3.4"}) == ("127.0.0.1", False)


def test_normalise_ip() -> None:
    assert normalise_ip("::FFFF:1.2.3.4") == "1.2.3.4"
    assert normalise_ip("fe80::1%eth0") == "fe80::1"
    assert normalise_ip("nope") == UNKNOWN_IP


@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("198.51.100.7", "198.51.100.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("100.64.3.4", "100.64.3.0/24"),
        (UNKNOWN_IP, "0.0.0.0/24"),
        ("not-an-ip", "0.0.0.0/24"),
    ],
)
def test_prefix_of(ip: str, prefix: str) -> None:
    assert prefix_of(ip) == prefix


def test_prefix_of_agrees_with_ipaddress_on_random_ipv6() -> None:
    import ipaddress
    import random

    rng = random.Random(7)
    for i in range(2000):
        # Half with many zero groups, where text compression differs most.
        value = rng.getrandbits(128) if i % 2 else (rng.getrandbits(16) << 112 | rng.getrandbits(16) << 64)
        ip = ipaddress.IPv6Address(value)
        if ip.ipv4_mapped is not None:
            continue
        assert prefix_of(str(ip)) == str(ipaddress.ip_network((ip, 64), strict=False))
    assert prefix_of("fe80::1:2%eth0") == "fe80::/64"
