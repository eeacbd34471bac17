"""The Fingerprinter: one request in, one Fingerprint out, believing headers only from trusted peers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.demo.tls import DEMO_TLS as KNOWN_TLS
from gateway.facts import RequestFacts
from gateway.fingerprint import Fingerprinter
from gateway.settings import REPO_ROOT, ConfigError, load_settings, settings_from_dict

APP_ANDROID = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"
BROWSER_HEADERS = {"accept": "application/json", "accept-language": "en-US"}


@pytest.fixture(scope="module")
def fingerprinter() -> Fingerprinter:
    f = Fingerprinter(load_settings(REPO_ROOT / "gateway" / "demo" / "config.yaml"))
    yield f
    f.close()


def facts(peer: str, headers: dict[str, str]) -> RequestFacts:
    return RequestFacts(ts=0.0, method="POST", path="/v1/media/1/like", peer=peer, headers=headers)


def test_phone_on_a_mobile_carrier_through_the_proxy(fingerprinter: Fingerprinter) -> None:
    fp = fingerprinter.fingerprint(
        facts(
            "127.0.0.1",
            {
                "x-forwarded-for": "100.64.3.4",
                "user-agent": APP_ANDROID,
                "x-device-id": "dev-123",
                "x-ja4": KNOWN_TLS["android_app"],
                **BROWSER_HEADERS,
            },
        )
    )
    assert (fp.ip, fp.prefix, fp.net_class) == ("100.64.3.4", "100.64.3.0/24", "mobile")
    assert (fp.asn, fp.as_org, fp.country) == (64521, "Liberty Wireless", "US")
    assert fp.lat == pytest.approx(40.7128)
    assert fp.device_id == "dev-123"
    assert (fp.ua_family, fp.ua_platform, fp.ua_official_app) == ("app", "android", True)
    assert (fp.tls_platform, fp.tls_consistent) == ("android", True)
    assert fp.headers_missing == 0


def test_script_with_the_app_user_agent_from_a_datacenter(fingerprinter: Fingerprinter) -> None:
    fp = fingerprinter.fingerprint(
        facts(
            "127.0.0.1",
            {"x-forwarded-for": "21.0.3.9", "user-agent": APP_ANDROID, "x-ja4": KNOWN_TLS["python_requests"]},
        )
    )
    assert fp.net_class == "hosting" and fp.as_org == "Stratus Cloud"
    assert fp.ua_official_app and fp.tls_platform == "library" and fp.tls_consistent is False
    assert fp.headers_missing == 2


def test_untrusted_peer_cannot_set_ip_device_or_tls(fingerprinter: Fingerprinter) -> None:
    fp = fingerprinter.fingerprint(
        facts(
            "21.0.3.9",
            {"x-forwarded-for": "11.1.0.7", "x-device-id": "forged", "x-ja4": KNOWN_TLS["android_app"]},
        )
    )
    assert fp.ip == "21.0.3.9" and fp.net_class == "hosting"
    assert fp.device_id is None and fp.tls is None and fp.tls_platform is None and fp.tls_consistent is None
    assert fp.headers_missing == 3


@pytest.mark.parametrize(
    ("ip", "cls"),
    [
        ("11.3.0.20", "residential"),
        ("2001:db8:3::20", "residential"),
        ("25.0.1.1", "vpn"),
        ("26.0.0.9", "tor"),
        ("28.0.0.9", "residential"),  # residential proxy: looks residential
        ("29.1.0.9", "residential"),  # office
        ("22.2.0.9", "hosting"),  # hosting-ASN list only
        ("33.0.0.1", "unknown"),
    ],
)
def test_classes_through_the_facade(fingerprinter: Fingerprinter, ip: str, cls: str) -> None:
    fp = fingerprinter.fingerprint(facts("127.0.0.1", {"x-forwarded-for": ip}))
    assert fp.ip == ip and fp.net_class == cls


def test_ipv6_client_prefix(fingerprinter: Fingerprinter) -> None:
    fp = fingerprinter.fingerprint(facts("::1", {"x-forwarded-for": "2001:db8:100:7:1:2:3:4"}))
    assert (fp.prefix, fp.net_class) == ("2001:db8:100:7::/64", "mobile")


def test_test_client_peer_does_not_break(fingerprinter: Fingerprinter) -> None:
    fp = fingerprinter.fingerprint(facts("testclient", {"user-agent": "curl/8.6.0"}))
    assert (fp.ip, fp.net_class, fp.ua_family) == ("0.0.0.0", "unknown", "http-library")


def test_oversized_header_values_are_cut(fingerprinter: Fingerprinter) -> None:
    fp = fingerprinter.fingerprint(
        facts("127.0.0.1", {"x-device-id": "d" * 5000, "user-agent": "curl/8 " + "x" * 5000, "x-ja4": "j" * 5000})
    )
    assert len(fp.device_id or "") == 128 and len(fp.user_agent) == 512 and fp.tls is None


def test_forwarded_header_and_custom_header_names(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {
            "network": {
                "trusted_proxies": ["10.0.0.0/8"],
                "forwarded_header": "forwarded",
                "device_header": "X-Install-Id",
                "tls_header": "X-TLS-JA4",
            },
            "apps": {
                "clients": [{"name": "Chirp", "platforms": ["ios"], "user_agents": [r"Chirp/(?P<version>[\d.]+) \((?P<platform>iOS) "]}],
                "tls_platforms": {"t13d0101h2_aaaaaaaaaaaa_bbbbbbbbbbbb": "ios"},
            },
        }
    )
    f = Fingerprinter(settings)
    fp = f.fingerprint(
        facts(
            "10.1.1.1",
            {
                "forwarded": 'for="[2001:db8:8::5]:1234";proto=https',
                "x-install-id": "inst-9",
                "x-tls-ja4": "T13D0101H2_AAAAAAAAAAAA_BBBBBBBBBBBB",
                "user-agent": "Chirp/2.0 (iOS 17.4; iPhone15,2; ja_JP)",
            },
        )
    )
    assert (fp.ip, fp.country, fp.net_class) == ("2001:db8:8::5", None, "unknown")  # no GeoIP configured
    assert fp.device_id == "inst-9"
    assert (fp.ua_official_app, fp.tls_platform, fp.tls_consistent) == (True, "ios", True)


def test_bad_geoip_path_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("geoip:\n  asn: missing.mmdb\n")
    with pytest.raises(ConfigError, match=r"geoip.asn: .*missing.mmdb: file not found"):
        Fingerprinter(load_settings(config))


def test_a_residential_proxy_exit_is_a_home_line_that_carries_the_flag(fingerprinter: Fingerprinter) -> None:
    exit_ = fingerprinter.fingerprint(facts("127.0.0.1", {"x-forwarded-for": "28.0.1.9", "user-agent": APP_ANDROID}))
    assert exit_.net_class == "residential" and exit_.residential_proxy is True
    home = fingerprinter.fingerprint(facts("127.0.0.1", {"x-forwarded-for": "100.64.3.4", "user-agent": APP_ANDROID}))
    assert home.residential_proxy is False
