"""The ASN lists (hosting, VPN, mobile) and the precedence of every source in the network class."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.fingerprint.geoip import EMPTY, GeoIP
from gateway.fingerprint.net_class import net_class
from gateway.settings import ConfigError
from gateway.settings import GeoIP as GeoIPSettings

FIXTURES = Path(__file__).resolve().parent.parent / "gateway" / "demo" / "geoip"
ASN = str(FIXTURES / "fixture-asn.mmdb")
CONNECTION = str(FIXTURES / "fixture-connection-type.mmdb")


def lists(tmp_path: Path, **files: str) -> dict[str, str]:
    out = {}
    for key, text in files.items():
        path = tmp_path / f"{key}.txt"
        path.write_text(text)
        out[key] = str(path)
    return out


def test_a_mobile_asn_list_gives_mobile_where_connection_type_is_absent(tmp_path: Path) -> None:
    # 100.64.0.0/20 is Liberty Wireless (AS64521) in the fixture world, 11.1.0.0/20 Northwind Cable (AS64501)
    geo = GeoIP(GeoIPSettings(asn=ASN, **lists(tmp_path, mobile_asns="AS64521\n")))
    assert geo.lookup("100.64.0.9").asn_listed == "mobile"
    assert net_class(geo.lookup("100.64.0.9")) == "mobile"
    assert net_class(geo.lookup("11.1.0.1")) == "unknown"
    geo.close()


def test_connection_type_outranks_the_mobile_list(tmp_path: Path) -> None:
    # a carrier's ASN that also carries fixed lines: Connection-Type types each network
    geo = GeoIP(GeoIPSettings(asn=ASN, connection_type=CONNECTION, **lists(tmp_path, mobile_asns="64501\n")))
    assert net_class(geo.lookup("11.1.0.1")) == "residential"
    geo.close()


def test_the_vpn_list_outranks_hosting_and_connection_type(tmp_path: Path) -> None:
    paths = lists(tmp_path, vpn_asns="64901  # an office network, for the test\n", hosting_asns="64901\n")
    geo = GeoIP(GeoIPSettings(asn=ASN, connection_type=CONNECTION, **paths))
    record = geo.lookup("29.0.0.1")
    assert record.connection_type == "Corporate" and record.asn_listed == "vpn"
    assert net_class(record, geo.hosting_asns) == "vpn"
    geo.close()


def test_an_asn_list_without_the_asn_database_gives_nothing(tmp_path: Path) -> None:
    geo = GeoIP(GeoIPSettings(**lists(tmp_path, vpn_asns="64701\n")))
    assert geo.lookup("25.0.0.1") == EMPTY
    geo.close()


@pytest.mark.parametrize("key", ["vpn_asns", "mobile_asns", "hosting_asns"])
def test_a_bad_list_names_its_key_line_and_fix(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"geoip.{key}: .*:2: 'Telstra' is not an AS number; write one number a line"):
        GeoIP(GeoIPSettings(asn=ASN, **lists(tmp_path, **{key: "1221\nTelstra\n"})))
    with pytest.raises(ConfigError, match=rf"geoip.{key}: .*nope.txt: cannot read it"):
        GeoIP(GeoIPSettings(**{key: str(tmp_path / "nope.txt")}))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"is_tor": True, "is_vpn": True, "cloud": "aws"}, "tor"),
        ({"is_vpn": True, "cloud": "aws"}, "vpn"),
        ({"is_public_proxy": True, "connection_type": "Cellular"}, "vpn"),
        ({"asn_listed": "vpn", "cloud": "aws", "is_hosting": True}, "vpn"),
        ({"is_hosting": True, "connection_type": "Cable/DSL"}, "hosting"),
        ({"cloud": "gcp", "connection_type": "Cellular"}, "hosting"),
        ({"cloud": "azure", "connection_type": "Corporate", "asn_listed": "mobile"}, "hosting"),
        ({"asn": 16509, "connection_type": "Corporate"}, "hosting"),  # in the hosting list below
        ({"connection_type": "Cellular", "asn": 1}, "mobile"),
        ({"connection_type": "Corporate", "asn_listed": "mobile"}, "residential"),
        ({"asn_listed": "mobile"}, "mobile"),
        ({"asn": 1}, "unknown"),
        ({"is_residential_proxy": True, "connection_type": "Cable/DSL"}, "residential"),
    ],
)
def test_precedence(fields: dict, expected: str) -> None:
    assert net_class(dataclasses.replace(EMPTY, **fields), frozenset({16509})) == expected
