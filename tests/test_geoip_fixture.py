"""The fixture databases: built from world.yaml, read back for every kind of network, classed right."""

from __future__ import annotations

import importlib.util
import ipaddress
import sys
from pathlib import Path

import pytest
import yaml

from gateway.fingerprint.geoip import GeoIP, GeoRecord, load_hosting_asns
from gateway.fingerprint.net_class import net_class
from gateway.settings import PACKAGE_DIR, REPO_ROOT, ConfigError
from gateway.settings import GeoIP as GeoIPSettings

GEOIP_DIR = PACKAGE_DIR / "demo" / "geoip"  # the fixtures; geoip/build.py makes them
WORLD = yaml.safe_load((GEOIP_DIR / "world.yaml").read_text())
NETWORKS = WORLD["networks"]
FIXTURES = ("fixture-asn.mmdb", "fixture-city.mmdb", "fixture-anonymous-ip.mmdb", "fixture-connection-type.mmdb")

# What each kind of network is classed as; residential proxies look residential on purpose.
EXPECTED_CLASS = {
    "residential": "residential",
    "mobile": "mobile",
    "hosting": "hosting",
    "vpn": "vpn",
    "tor": "tor",
    "office": "residential",
    "residential_proxy": "residential",
}


def fixture_settings(**overrides: object) -> GeoIPSettings:
    base: dict[str, object] = {
        "asn": str(GEOIP_DIR / "fixture-asn.mmdb"),
        "city": str(GEOIP_DIR / "fixture-city.mmdb"),
        "anonymous_ip": str(GEOIP_DIR / "fixture-anonymous-ip.mmdb"),
        "connection_type": str(GEOIP_DIR / "fixture-connection-type.mmdb"),
        "hosting_asns": str(GEOIP_DIR / "hosting-asns.txt"),
    }
    base.update(overrides)
    return GeoIPSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def geo() -> GeoIP:
    g = GeoIP(fixture_settings())
    yield g
    g.close()


def an_address(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 5)


@pytest.mark.parametrize("entry", NETWORKS, ids=[f"{n['kind']}-{n['cidr']}" for n in NETWORKS])
def test_every_world_network_reads_back(geo: GeoIP, entry: dict) -> None:
    record = geo.lookup(an_address(entry["cidr"]))
    assert record.asn == entry["asn"]
    assert record.as_org == entry["org"]
    assert record.country == entry["country"]
    assert record.lat == pytest.approx(entry["lat"]) and record.lon == pytest.approx(entry["lon"])
    assert record.connection_type == entry["connection_type"]
    flags = set(entry["anonymous"])
    assert record.is_hosting == ("hosting" in flags)
    assert record.is_vpn == ("vpn" in flags)
    assert record.is_tor == ("tor" in flags)
    assert record.is_public_proxy == ("public_proxy" in flags)
    assert record.is_residential_proxy == ("residential_proxy" in flags)
    assert net_class(record, geo.hosting_asns) == EXPECTED_CLASS[entry["kind"]]


def test_world_covers_what_the_simulator_needs() -> None:
    by_kind: dict[str, set[int]] = {}
    for n in NETWORKS:
        by_kind.setdefault(n["kind"], set()).add(n["asn"])
    residential_countries = {n["country"] for n in NETWORKS if n["kind"] == "residential"}
    continents = {WORLD["countries"][n["country"]]["continent"] for n in NETWORKS if n["kind"] == "residential"}
    assert len(by_kind["residential"]) >= 12 and len(residential_countries) >= 8 and len(continents) >= 4
    assert len(by_kind["mobile"]) >= 6 and len(by_kind["hosting"]) >= 8 and len(by_kind["vpn"]) >= 4
    assert len([n for n in NETWORKS if n["kind"] == "tor"]) >= 2
    assert len([n for n in NETWORKS if n["kind"] == "residential_proxy"]) >= 3
    assert len(by_kind["office"]) >= 3
    for kind in by_kind:
        entries = [n for n in NETWORKS if n["kind"] == kind]
        holdout = [n for n in entries if n["split"] == "holdout"]
        assert holdout, kind
        tune_countries = {n["country"] for n in entries if n["split"] == "tune"}
        assert not {n["country"] for n in holdout} & tune_countries, kind


def test_hosting_asn_list_is_every_hosting_network() -> None:
    assert load_hosting_asns(str(GEOIP_DIR / "hosting-asns.txt")) == {
        n["asn"] for n in NETWORKS if n["kind"] == "hosting"
    }


def test_hosting_asn_list_catches_unflagged_datacenter(geo: GeoIP) -> None:
    record = geo.lookup("21.4.0.9")  # ByteBarn: no anonymous-IP flag
    assert not record.is_hosting
    assert net_class(record, geo.hosting_asns) == "hosting"
    assert net_class(record, frozenset()) == "residential"  # Corporate alone reads as an office


def test_unlisted_address_is_unknown(geo: GeoIP) -> None:
    for ip in ("33.1.2.3", "2001:db8:ffff::1", "0.0.0.0"):
        record = geo.lookup(ip)
        assert record == GeoRecord()
        assert net_class(record, geo.hosting_asns) == "unknown"


def test_garbage_ip_never_raises(geo: GeoIP) -> None:
    assert geo.lookup("not-an-ip") == GeoRecord()


def test_lookups_are_cached_and_bounded() -> None:
    g = GeoIP(fixture_settings(cache_size=4))
    try:
        first = g.lookup("11.1.0.1")
        assert g.lookup("11.1.0.1") is first
        for i in range(10):
            g.lookup(f"11.1.0.{i + 2}")
        assert g.lookup.cache_info().currsize == 4
    finally:
        g.close()


def test_no_databases_gives_empty_records() -> None:
    g = GeoIP(GeoIPSettings())
    assert g.lookup("11.1.0.1") == GeoRecord()
    assert g.hosting_asns == frozenset()


def test_relative_paths_resolve_from_the_config_folder() -> None:
    g = GeoIP(GeoIPSettings(asn="fixture-asn.mmdb"), resolve=lambda p: str(GEOIP_DIR / p) if p else p)
    try:
        assert g.lookup("11.1.0.1").asn == 64501
    finally:
        g.close()


def test_bad_hosting_asn_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "asns.txt"
    bad.write_text("# clouds\n16509\nAS8075  # ok\namazon\n")
    with pytest.raises(ConfigError, match=r"asns.txt:4: 'amazon' is not an AS number"):
        load_hosting_asns(str(bad))
    bad.write_text("16509\nAS8075  # Microsoft\n\n")
    assert load_hosting_asns(str(bad)) == {16509, 8075}


def test_missing_hosting_asn_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="geoip.hosting_asns"):
        GeoIP(fixture_settings(hosting_asns=str(tmp_path / "nope.txt")))


def _build_module():
    spec = importlib.util.spec_from_file_location("geoip_build", REPO_ROOT / "geoip" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_committed_fixtures_match_a_fresh_build(tmp_path: Path) -> None:
    build = _build_module()
    build.build(GEOIP_DIR / "world.yaml", tmp_path)
    for name in (*FIXTURES, "hosting-asns.txt"):
        assert (tmp_path / name).read_bytes() == (GEOIP_DIR / name).read_bytes(), (
            f"{name} is stale: run .venv/bin/python geoip/build.py"
        )


def test_build_rejects_overlapping_networks(tmp_path: Path) -> None:
    build = _build_module()
    world = {
        "countries": {"US": {"name": "United States", "continent": "NA"}},
        "networks": [
            {"cidr": c, "asn": 64500, "org": "X", "country": "US", "city": "A", "lat": 0, "lon": 0,
             "connection_type": "Cable/DSL", "anonymous": [], "kind": "residential", "split": "tune"}
            for c in ("11.0.0.0/16", "11.0.1.0/24")
        ],
    }
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(world))
    with pytest.raises(build.WorldError, match=r"networks\[1\].cidr: 11.0.1.0/24 overlaps networks\[0\]"):
        build.build(path, tmp_path)
