"""`gateway doctor` and the start-up report: what the data gives, what is always missing, which rules cannot fire."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.doctor import build_report
from gateway.fingerprint.geoip import GeoIP
from gateway.fingerprint.sources import SOURCES, coverage
from gateway.policy import compile_condition
from gateway.policy.reach import Known, never_true
from gateway.policy.ruleset import RuleSet
from gateway.settings import REPO_ROOT, settings_from_dict
from gateway.settings import GeoIP as GeoIPSettings

DEMO = REPO_ROOT / "gateway" / "demo"
FIXTURES = DEMO / "geoip"


def _find_test_data() -> Path | None:
    for candidate in (Path("/work/shared/maxmind-test-data"), REPO_ROOT.parent / "shared" / "maxmind-test-data"):
        if (candidate / "GeoLite2-ASN-Test.mmdb").is_file():
            return candidate
    return None


MAXMIND = _find_test_data()
needs_maxmind = pytest.mark.skipif(MAXMIND is None, reason="MaxMind test data (../shared/maxmind-test-data) is absent")


def config(tmp_path: Path, geoip: str, rules: str = "[builtin:rules]") -> str:
    path = tmp_path / "gw.yaml"
    path.write_text(f"geoip:\n{geoip}\nrules: {rules}\n")
    return str(path)


def doctor(capsys: pytest.CaptureFixture[str], path: str) -> tuple[int, str, str]:
    code = main(["doctor", "--config", path])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_demo_config_can_fire_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, str(DEMO / "config.yaml"))
    assert code == 0, out
    assert "geoip.anonymous_ip     GeoIP2-Anonymous-IP, built " in out
    assert "Network classes this data can give: hosting, vpn, tor, mobile, residential, unknown" in out
    assert "can match with this data" in out and "never match" not in out


@needs_maxmind
def test_geolite2_only_names_the_missing_features_and_the_rules_that_cannot_fire(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, f"  asn: {MAXMIND}/GeoLite2-ASN-Test.mmdb\n  city: {MAXMIND}/GeoLite2-City-Test.mmdb")
    code, out, _ = doctor(capsys, path)
    assert code == 1
    assert "geoip.asn              GeoLite2-ASN, built " in out
    assert "geoip.city             GeoLite2-City, built " in out
    assert "geoip.anonymous_ip     (not configured)" in out
    assert "Network classes this data can give: unknown" in out
    assert "never residential: needs geoip.connection_type" in out
    assert "never hosting: needs geoip.anonymous_ip, or geoip.cloud_ranges, or geoip.asn with geoip.hosting_asns" in out
    assert 'net.class: always "unknown"' in out
    assert "net.anonymizer: always false" in out
    assert "net.residential_proxy: always false; needs geoip.anonymous_ip" in out
    assert "net.asn" not in out and "net.country" not in out and "travel_km" not in out  # ASN and City give them
    assert "Rules that can never match with this data: " in out
    assert 'dc-account-farm (' in out and 'net.class == "hosting" never holds (net.class is only ever "unknown")' in out
    assert 'scheduler-pace-on-home-line (' in out
    assert "lockstep-anonymized-crowd (" in out and "net.anonymizer is always false" in out
    assert "impossible-travel" not in out  # travel rules read ASN and City data, which are here


@needs_maxmind
def test_lists_and_cloud_ranges_bring_classes_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ranges.json").write_text('{"prefixes": [{"ip_prefix": "3.5.140.0/22"}], "ipv6_prefixes": []}')
    (tmp_path / "mobile.txt").write_text("AS1221  # Telstra\n")
    path = config(tmp_path, f"  asn: {MAXMIND}/GeoLite2-ASN-Test.mmdb\n  city: {MAXMIND}/GeoLite2-Country-Test.mmdb\n"
                            "  cloud_ranges: [ranges.json]\n  mobile_asns: mobile.txt")
    code, out, _ = doctor(capsys, path)
    assert code == 1
    assert "geoip.cloud_ranges     aws, 1 prefixes: " in out
    assert "geoip.mobile_asns      1 ASNs: " in out
    assert "Network classes this data can give: hosting, mobile, unknown" in out
    assert "session.speed_kmh: always absent; needs a City database in geoip.city" in out  # a Country database
    assert "dc-account-farm (" not in out  # hosting can occur now
    assert "scheduler-pace-on-home-line (" in out  # residential still cannot


def test_no_geoip_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, config(tmp_path, "  cache_size: 1024"))
    assert code == 1
    assert "net.asn: always absent; needs geoip.asn" in out
    assert "net.country: always absent; needs geoip.city" in out
    assert "impossible-travel" in out or "travel" in out


def test_without_rules_everything_is_usable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, config(tmp_path, "  cache_size: 1024", rules="[]"))
    assert code == 0
    assert "Rules: all 0 can match with this data." in out


@pytest.mark.parametrize(
    ("geoip", "message"),
    [
        ("  asn: nope.mmdb", "geoip.asn: .*nope.mmdb: file not found"),
        ("  cloud_ranges: [bad.json]", r"geoip.cloud_ranges\[0\]: .*bad.json: is not a cloud IP range file"),
        ("  asn_list: x.txt", "geoip.asn_list: unknown key"),
        ("  city: " + str(FIXTURES / "fixture-asn.mmdb"), "is a GeoLite2-ASN database, but geoip.city needs"),
    ],
)
def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], geoip: str, message: str) -> None:
    (tmp_path / "bad.json").write_text('{"hello": "world"}')
    code, out, err = doctor(capsys, config(tmp_path, geoip))
    assert code == 2 and out == ""
    assert err.startswith("gateway doctor: ")
    import re

    assert re.search(message, err), err
    assert "Traceback" not in err


@needs_maxmind
def test_a_corrupt_database_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = doctor(capsys, config(tmp_path, f"  city: {MAXMIND}/GeoIP2-City-Test-Broken-Double-Format.mmdb"))
    assert code == 2 and "geoip.city" in err and "download a fresh copy" in err


def test_a_broken_rule_pack_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: x\n    when: net.clas == 1\n    action: block\n")
    code, _, err = doctor(capsys, config(tmp_path, "  cache_size: 1024", rules="[rules.yaml]"))
    assert code == 2 and "unknown feature 'net.clas'" in err


def test_the_engine_logs_the_report_at_start(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.engine import Engine

    settings = settings_from_dict({"rules": [str(REPO_ROOT / "gateway" / "rules")]})
    with caplog.at_level(logging.INFO, logger="gateway.doctor"):
        Engine(settings, decision_log=False, metrics=False)
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.doctor" and r.levelno == logging.WARNING]
    assert any(m.startswith("network classes hosting, vpn, tor, mobile, residential never occur") for m in warnings)
    assert any(m.startswith("feature net.asn is always absent") for m in warnings)
    assert any(m.startswith("rule dc-account-farm (") and "can never match" in m for m in warnings)


def test_the_demo_engine_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.engine import Engine
    from gateway.settings import load_settings

    with caplog.at_level(logging.INFO, logger="gateway.doctor"):
        Engine(load_settings(DEMO / "config.yaml"), decision_log=False, metrics=False)
    records = [r for r in caplog.records if r.name == "gateway.doctor"]
    assert records and all(r.levelno == logging.INFO for r in records)


# --- the reach analysis on single conditions ---------------------------------------------
LITE = coverage(frozenset({"asn", "country", "location"}))
KNOWN = Known(frozenset(LITE.absent), {k: v for k, (v, _) in LITE.constant.items()}, LITE.domains)


@pytest.mark.parametrize(
    ("text", "never"),
    [
        ('net.class == "hosting"', True),
        ('net.class != "mobile" && ip.accounts_1h > 3', False),
        ('net.class in ["vpn", "tor"]', True),
        ('net.class in ["vpn", "unknown"]', False),
        ('!(net.class == "hosting") && ip.accounts_1h > 3', False),
        ('net.class == "hosting" || ip.accounts_1h > 20', False),
        ("net.anonymizer", True),
        ("!net.anonymizer", False),
        ("net.residential_proxy || net.anonymizer", True),
        ("target.anonymized_share_5m >= 0.5", True),
        ("target.anonymized_share_5m < 0.5", False),
        ("ip.accounts_1h > 3", False),
        ('net.country == "US"', False),
    ],
)
def test_reach_with_asn_and_city_only(text: str, never: bool) -> None:
    assert (never_true(compile_condition(text).root, KNOWN) is not None) is never


@pytest.mark.parametrize(
    ("text", "never"),
    [
        ('net.country == "US"', True),
        ('has(net.country)', True),
        ('!has(net.country) && ip.accounts_1h > 3', False),
        ('net.country == "US" || ip.accounts_1h > 3', False),
        ('size(net.as_org) > 3', True),
        ("account.speed_kmh > 1000 && account.travel_km > 500", True),
        ("!(account.speed_kmh > 1000)", True),  # MISSING negated is still MISSING
        ('(net.asn == 1 ? true : false)', True),
        ('(ip.accounts_1h > 1 ? net.asn == 1 : false)', False),
    ],
)
def test_reach_without_any_database(text: str, never: bool) -> None:
    cov = coverage(frozenset())
    known = Known(frozenset(cov.absent), {k: v for k, (v, _) in cov.constant.items()}, cov.domains)
    assert (never_true(compile_condition(text).root, known) is not None) is never


def test_the_default_packs_can_all_fire_on_the_fixture_data() -> None:
    geo = GeoIP(settings_from_dict({"geoip": {
        "asn": str(FIXTURES / "fixture-asn.mmdb"), "city": str(FIXTURES / "fixture-city.mmdb"),
        "anonymous_ip": str(FIXTURES / "fixture-anonymous-ip.mmdb"),
        "connection_type": str(FIXTURES / "fixture-connection-type.mmdb"),
    }}).geoip)
    report = build_report(geo, RuleSet.load(REPO_ROOT / "gateway" / "rules"))
    geo.close()
    assert report.dead == [] and report.rules > 0
    assert report.coverage.absent == {} and report.coverage.constant == {}


def test_connection_type_alone_gives_mobile_and_residential_only() -> None:
    geo = GeoIP(GeoIPSettings(connection_type=str(FIXTURES / "fixture-connection-type.mmdb")))
    report = build_report(geo, RuleSet.load(REPO_ROOT / "gateway" / "rules"))
    geo.close()
    assert report.coverage.classes == ("mobile", "residential", "unknown")
    dead = {d.id for d in report.dead}
    assert "dc-account-farm" in dead and "scheduler-pace-on-home-line" not in dead


def test_every_source_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme[readme.index("| source | gives | without it |"):].split("\n\n", 1)[0]
    keys = [line.split("`")[1] for line in table.splitlines()[2:]]
    assert keys == [s.key.split(" ")[0] for s in SOURCES]
