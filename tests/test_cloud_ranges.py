"""The clouds' published range files: the three formats read, merged into one fast table, bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.fingerprint import cloud_ranges
from gateway.fingerprint.cloud_ranges import CloudRanges, read_range_file
from gateway.fingerprint.geoip import GeoIP
from gateway.fingerprint.net_class import net_class
from gateway.settings import ConfigError, load_settings
from gateway.settings import GeoIP as GeoIPSettings

GEOIP_DIR = Path(__file__).resolve().parent.parent / "gateway" / "demo" / "geoip"


def aws(tmp_path: Path, v4: list[str], v6: list[str] = ()) -> str:
    """A file shaped as AWS's ip-ranges.json."""
    doc = {
        "syncToken": "1717000000",
        "createDate": "2024-05-29-17-13-04",
        "prefixes": [{"ip_prefix": p, "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"}
                     for p in v4],
        "ipv6_prefixes": [{"ipv6_prefix": p, "region": "eu-west-1", "service": "AMAZON",
                           "network_border_group": "eu-west-1"} for p in v6],
    }
    path = tmp_path / "aws-ip-ranges.json"
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


def gcp(tmp_path: Path, v4: list[str], v6: list[str] = ()) -> str:
    """A file shaped as Google Cloud's cloud.json."""
    doc = {
        "syncToken": "1717001234",
        "creationTime": "2024-05-29T10:00:00.000000",
        "prefixes": [{"ipv4Prefix": p, "service": "Google Cloud", "scope": "us-central1"} for p in v4]
        + [{"ipv6Prefix": p, "service": "Google Cloud", "scope": "europe-west1"} for p in v6],
    }
    path = tmp_path / "gcp-cloud.json"
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


def azure(tmp_path: Path, tags: dict[str, list[str]]) -> str:
    """A file shaped as Azure's ServiceTags_Public_*.json."""
    doc = {
        "changeNumber": 312,
        "cloud": "Public",
        "values": [
            {"name": name, "id": name, "properties": {"changeNumber": 1, "region": "", "regionId": 0, "platform": "Azure",
                                                      "systemService": "", "addressPrefixes": prefixes,
                                                      "networkFeatures": ["API", "NSG"]}}
            for name, prefixes in tags.items()
        ],
    }
    path = tmp_path / "ServiceTags_Public_20240527.json"
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


@pytest.fixture
def three(tmp_path: Path) -> list[str]:
    return [
        aws(tmp_path, ["3.5.140.0/22", "3.5.0.0/16", "52.94.76.0/22"], ["2600:1f14::/35"]),
        gcp(tmp_path, ["34.80.0.0/15", "35.185.128.0/19"], ["2600:1900:4000::/44"]),
        azure(tmp_path, {"AzureCloud": ["20.33.0.0/16", "2603:1000::/40"], "AzureFrontDoor.Frontend": ["20.33.4.0/24"]}),
    ]


def test_the_three_formats_are_told_apart_from_their_content(three: list[str]) -> None:
    providers = [read_range_file(p)[0] for p in three]
    assert [(f.provider, f.prefixes, f.published) for f in providers] == [
        ("aws", 4, "2024-05-29-17-13-04"), ("gcp", 3, "2024-05-29T10:00:00.000000"), ("azure", 3, "312"),
    ]


def test_lookups(three: list[str]) -> None:
    ranges = CloudRanges(three)
    assert ranges.provider("3.5.141.7") == "aws"  # inside both AWS prefixes
    assert ranges.provider("3.5.255.255") == "aws"
    assert ranges.provider("3.6.0.0") is None
    assert ranges.provider("3.4.255.255") is None
    assert ranges.provider("52.94.79.255") == "aws"
    assert ranges.provider("34.81.255.255") == "gcp"
    assert ranges.provider("35.185.160.0") is None  # one past the /19
    assert ranges.provider("20.33.4.9") == "azure"
    assert ranges.provider("2600:1f14::1") == "aws"
    assert ranges.provider("2600:1f13:ffff::1") is None
    assert ranges.provider("2600:1900:400f:ffff::1") == "gcp"
    assert ranges.provider("2603:1000:ff::1") == "azure"
    assert ranges.provider("2603:1000:100::1") is None
    assert ranges.provider("::ffff:34.80.0.1") == "gcp"  # an IPv4-mapped address is its IPv4 address
    assert ranges.provider("11.1.0.1") is None
    assert ranges.provider("not-an-ip") is None
    assert ranges.provider("") is None
    # nested and overlapping prefixes of one provider merge: 3.5.0.0/16 swallows 3.5.140.0/22
    assert ranges.intervals == 8


def test_an_interval_table_against_a_brute_force_check(tmp_path: Path) -> None:
    import ipaddress
    import random

    rng = random.Random(7)
    prefixes = sorted({f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice((16, 20, 22, 24))}"
                       for _ in range(300)})
    ranges = CloudRanges([aws(tmp_path, prefixes)])
    nets = [ipaddress.ip_network(p, strict=False) for p in prefixes]
    for _ in range(3000):
        ip = ipaddress.ip_address(rng.randrange(2**32))
        assert (ranges.provider(str(ip)) == "aws") == any(ip in n for n in nets), ip
    for net in nets:  # both ends of every prefix
        assert ranges.provider(str(net.network_address)) == "aws"
        assert ranges.provider(str(net.broadcast_address)) == "aws"


def test_cloud_addresses_are_hosting_and_cached(three: list[str]) -> None:
    geo = GeoIP(GeoIPSettings(cloud_ranges=tuple(three)))
    record = geo.lookup("34.80.1.1")
    assert record.cloud == "gcp"
    assert net_class(record) == "hosting"
    assert geo.lookup("34.80.1.1") is record  # cached as every lookup is
    assert net_class(geo.lookup("11.1.0.1")) == "unknown"
    geo.close()


def test_cloud_ranges_rank_below_the_anonymous_ip_flags_and_above_connection_type(tmp_path: Path) -> None:
    # In the fixture world 25.x are VPN exits, 11.x home lines (Cable/DSL) and 29.x offices (Corporate).
    ranges = aws(tmp_path, ["25.0.0.0/8", "11.1.0.0/20", "29.0.0.0/8"])
    geo = GeoIP(GeoIPSettings(anonymous_ip=str(GEOIP_DIR / "fixture-anonymous-ip.mmdb"),
                              connection_type=str(GEOIP_DIR / "fixture-connection-type.mmdb"),
                              cloud_ranges=(ranges,)))
    assert net_class(geo.lookup("25.0.0.1")) == "vpn"  # the VPN flag outranks the range
    assert geo.lookup("11.1.0.1").connection_type == "Cable/DSL"
    assert net_class(geo.lookup("11.1.0.1")) == "hosting"
    assert net_class(geo.lookup("29.0.0.1")) == "hosting"  # an office typed Corporate, inside a cloud's range
    assert net_class(geo.lookup("11.2.0.1")) == "residential"  # outside every range
    geo.close()


def test_paths_are_relative_to_the_config_file(tmp_path: Path, three: list[str]) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("geoip:\n  cloud_ranges: [aws-ip-ranges.json, gcp-cloud.json]\n")
    settings = load_settings(config)
    geo = GeoIP(settings.geoip, resolve=settings.resolve)
    assert [f.provider for f in geo.cloud_ranges.files] == ["aws", "gcp"]
    geo.close()
    config.write_text("geoip:\n  cloud_ranges: ServiceTags_Public_20240527.json\n")  # one file needs no list
    settings = load_settings(config)
    assert GeoIP(settings.geoip, resolve=settings.resolve).lookup("20.33.0.1").cloud == "azure"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", r"line 1 column 2: not valid JSON .*download a fresh copy"),
        ("[1, 2]", r"is not a cloud IP range file \(found list\); point geoip.cloud_ranges at AWS ip-ranges.json"),
        ('{"foo": 1}', r"is not a cloud IP range file \(found a mapping with keys foo\).*Google Cloud cloud.json.*Azure"),
        ('{"prefixes": [{"ip_prefix": "3.5.140.0/22"}, {"ip_prefix": "3.5.999.0/22"}]}',
         r"prefixes\[1\]\.ip_prefix: '3.5.999.0/22' is not an IP prefix; download a fresh copy"),
        ('{"prefixes": [{"ip_prefix": "3.5.140.0/22"}, {"region": "x"}]}', r"prefixes\[1\]: has none of ip_prefix"),
        ('{"prefixes": [{"ipv4Prefix": 12}]}', r"prefixes\[0\]\.ipv4Prefix: '12' is not an IP prefix"),
        ('{"prefixes": [], "ipv6_prefixes": "2600::/16"}', r"ipv6_prefixes: expected a list, got str"),
        ('{"values": [{"name": "AzureCloud", "properties": {}}]}',
         r"values\[0\]\.properties\.addressPrefixes: missing or not a list"),
        ('{"values": [{"properties": {"addressPrefixes": ["20.33.0.0/16", "nope"]}}]}',
         r"values\[0\]\.properties\.addressPrefixes\[1\]: 'nope' is not an IP prefix"),
        ('{"values": []}', r"holds no prefixes"),
        ('"\\ud800"', r"is not a cloud IP range file \(found str\)"),
    ],
)
def test_bad_files_are_clear_errors_naming_the_file_and_place(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "ranges.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=rf"geoip.cloud_ranges\[0\]: {path}: {expected}"):
        GeoIP(GeoIPSettings(cloud_ranges=(str(path),)))


def test_missing_binary_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"nope.json: file not found; fix the path"):
        CloudRanges([str(tmp_path / "nope.json")])
    binary = tmp_path / "ranges.bin"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0\)"):
        CloudRanges([str(binary)])
    big = aws(tmp_path, ["3.5.140.0/22"])
    monkeypatch.setattr(cloud_ranges, "MAX_FILE_BYTES", 100)
    with pytest.raises(ConfigError, match=r"more than the 0 MB a range file may be"):
        CloudRanges([big])


def test_the_limit_is_fifty_megabytes() -> None:
    assert cloud_ranges.MAX_FILE_BYTES == 50 * 1024 * 1024
