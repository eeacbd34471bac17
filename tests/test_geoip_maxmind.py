"""MaxMind's own test databases: the real schemas read right, bad files are clear errors at start."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from gateway.fingerprint.geoip import GeoIP
from gateway.fingerprint.net_class import net_class
from gateway.settings import REPO_ROOT, ConfigError
from gateway.settings import GeoIP as GeoIPSettings


def _find_test_data() -> Path | None:
    for candidate in (Path("/work/shared/maxmind-test-data"), REPO_ROOT.parent / "shared" / "maxmind-test-data"):
        if (candidate / "GeoLite2-ASN-Test.mmdb").is_file():
            return candidate
    return None


DATA = _find_test_data()
pytestmark = pytest.mark.skipif(DATA is None, reason="MaxMind test data (../shared/maxmind-test-data) is absent")


def path(name: str) -> str:
    assert DATA is not None
    return str(DATA / name)


@pytest.fixture(scope="module")
def geo() -> GeoIP:
    g = GeoIP(
        GeoIPSettings(
            asn=path("GeoLite2-ASN-Test.mmdb"),
            city=path("GeoIP2-City-Test.mmdb"),
            anonymous_ip=path("GeoIP2-Anonymous-IP-Test.mmdb"),
            connection_type=path("GeoIP2-Connection-Type-Test.mmdb"),
        )
    )
    yield g
    g.close()


def test_opened_with_their_database_types(geo: GeoIP) -> None:
    assert geo.databases == {
        "asn": "GeoLite2-ASN",
        "city": "GeoIP2-City",
        "anonymous_ip": "GeoIP2-Anonymous-IP",
        "connection_type": "GeoIP2-Connection-Type",
    }


def test_asn_lookups_match_the_published_source(geo: GeoIP) -> None:
    entries = json.loads(Path(path("GeoLite2-ASN-Test.json")).read_text())
    checked = 0
    for entry in entries:
        for cidr, expected in entry.items():
            net = ipaddress.ip_network(cidr)
            record = geo.lookup(str(net.network_address))
            assert record.asn == expected["autonomous_system_number"], cidr
            assert record.as_org == expected.get("autonomous_system_organization"), cidr
            checked += 1
    assert checked > 50


def test_asn_known_addresses(geo: GeoIP) -> None:
    assert (geo.lookup("1.128.0.1").asn, geo.lookup("1.128.0.1").as_org) == (1221, "Telstra Pty Ltd")
    assert geo.lookup("12.81.92.7").as_org == "AT&T Services"
    assert geo.lookup("2600:6000::1").asn == 237


def test_city(geo: GeoIP) -> None:
    record = geo.lookup("81.2.69.160")
    assert record.country == "GB"
    assert record.lat == pytest.approx(51.5142) and record.lon == pytest.approx(-0.0931)
    assert geo.lookup("2001:218::1").country == "JP"


def test_connection_type(geo: GeoIP) -> None:
    assert geo.lookup("1.0.1.0").connection_type == "Cellular"
    assert geo.lookup("1.0.0.1").connection_type == "Cable/DSL"
    assert net_class(geo.lookup("1.0.1.0")) == "mobile"


def test_anonymous_ip_flags_and_classes(geo: GeoIP) -> None:
    everything = geo.lookup("81.2.69.1")
    assert everything.is_hosting and everything.is_vpn and everything.is_tor
    assert everything.is_public_proxy and everything.is_residential_proxy
    assert net_class(everything) == "tor"
    assert net_class(geo.lookup("1.2.0.1")) == "vpn"
    assert net_class(geo.lookup("71.160.223.5")) == "hosting"
    assert net_class(geo.lookup("186.30.236.5")) == "vpn"  # public proxy
    assert net_class(geo.lookup("65.0.0.1")) == "tor"
    resi = geo.lookup("6.1.0.4")
    assert resi.is_residential_proxy and not (resi.is_vpn or resi.is_hosting)


def test_country_database_fits_the_city_slot() -> None:
    g = GeoIP(GeoIPSettings(city=path("GeoLite2-Country-Test.mmdb")))
    try:
        record = g.lookup("81.2.69.160")
        assert record.country == "GB" and record.lat is None
    finally:
        g.close()


def test_isp_database_fits_the_asn_slot() -> None:
    g = GeoIP(GeoIPSettings(asn=path("GeoIP2-ISP-Test.mmdb")))
    try:
        assert g.lookup("1.128.0.1").asn == 1221
    finally:
        g.close()


@pytest.mark.parametrize(
    "name", ["GeoIP2-City-Test-Broken-Double-Format.mmdb", "GeoIP2-City-Test-Invalid-Node-Count.mmdb"]
)
def test_corrupt_database_is_a_config_error_at_start(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GeoIP(GeoIPSettings(city=path(name)))
    message = str(caught.value)
    assert name in message and "geoip.city" in message and "fresh copy" in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-ASN.mmdb"
    with pytest.raises(ConfigError, match=r"geoip.asn: .*GeoLite2-ASN.mmdb: file not found"):
        GeoIP(GeoIPSettings(asn=str(missing)))


@pytest.mark.parametrize(
    ("slot", "name"),
    [
        ("city", "GeoLite2-ASN-Test.mmdb"),
        ("asn", "GeoIP2-City-Test.mmdb"),
        ("anonymous_ip", "GeoIP2-Connection-Type-Test.mmdb"),
        ("connection_type", "GeoIP2-Anonymous-IP-Test.mmdb"),
    ],
)
def test_database_in_the_wrong_slot_is_a_config_error(slot: str, name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GeoIP(GeoIPSettings(**{slot: path(name)}))
    message = str(caught.value)
    assert f"geoip.{slot}" in message and name in message and "point the key at the right file" in message


def test_not_a_maxmind_file_is_a_config_error(tmp_path: Path) -> None:
    fake = tmp_path / "city.mmdb"
    fake.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="not a readable MaxMind DB"):
        GeoIP(GeoIPSettings(city=str(fake)))



def test_damage_the_probe_missed_is_an_empty_answer_not_a_crash() -> None:
    import maxminddb

    g = GeoIP(GeoIPSettings(asn=path("GeoLite2-ASN-Test.mmdb")))
    # Swap in a reader on a corrupt file, as if the file were damaged after the start.
    g._city = maxminddb.open_database(path("GeoIP2-City-Test-Broken-Double-Format.mmdb"), maxminddb.MODE_AUTO)
    g._readers["city"] = g._city
    try:
        record = g.lookup("81.2.69.160")
        assert record.country is None and record.lat is None
        assert g.lookup_errors == 1
        assert g.lookup("1.128.0.1").asn == 1221
    finally:
        g.close()
