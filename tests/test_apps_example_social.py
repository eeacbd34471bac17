"""The ExampleSocial platform's config (eval/example-social/): its apps' User-Agents and TLS stacks, end to end.

The config is this repository's; its GeoIP and JWKS live in the platform's traffic sample, beside the
checkout. Here they are swapped for the demo's fixture databases and a test issuer, so these run on a
fresh clone. Tests reading the sample itself skip when it is absent.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
import yaml

from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.fingerprint import Fingerprinter
from gateway.settings import PACKAGE_DIR, REPO_ROOT, load_settings, settings_from_dict
from gateway.testing import TokenMinter

CONFIG = REPO_ROOT / "eval" / "example-social" / "gateway.yaml"
SAMPLE = REPO_ROOT.parent / "shared" / "traffic-sample" / "traffic.jsonl.gz"
FIXTURES = PACKAGE_DIR / "demo" / "geoip"

ES_IOS = "ExampleSocial/312.0.0.34.109 (iPhone14,2; iOS 17_5_1; en_US; en; scale=3.00; 1170x2532; 556014230)"
ES_ANDROID = "ExampleSocial 312.0.0.34.109 Android (34/14; 420dpi; 1080x2340; samsung; SM-S911B; dm1q; qcom; en_US; 556014230)"
ANDROID_TLS = "t13d1715h2_5b57614c22b0_3d5424432f57"
IOS_TLS = "t13d2113h2_e8f1e7e78f70_b26ce05bbdd6"
SAFARI_TLS = "t13d2014h2_a09f3c656075_14788d8d241b"  # the iOS system stack: the app's and Safari's
PYTHON_TLS = "t13d1812h1_85036bcba153_d41ae481755e"
DATACENTER = "21.0.3.9"  # a hosting address in the demo's fixture GeoIP
PHONE = "100.64.3.4"  # a mobile carrier's


def local_config(tmp_path: Path, minter: TokenMinter | None = None) -> dict:
    """The ExampleSocial config, on the demo's fixture GeoIP (and a test issuer's keys)."""
    data = yaml.safe_load(CONFIG.read_text())
    data["geoip"] = {
        "asn": str(FIXTURES / "fixture-asn.mmdb"),
        "city": str(FIXTURES / "fixture-city.mmdb"),
        "anonymous_ip": str(FIXTURES / "fixture-anonymous-ip.mmdb"),
        "connection_type": str(FIXTURES / "fixture-connection-type.mmdb"),
        "hosting_asns": str(FIXTURES / "hosting-asns.txt"),
    }
    data["network"]["trusted_proxies"] = ["10.20.0.0/16", "127.0.0.1/32"]
    if minter is not None:
        data["auth"].update(minter.auth_settings(minter.write_jwks(tmp_path / "jwks.json")))
        data["auth"]["claims"] = {"subject": "sub", "session": "sid", "client": "azp", "device": "did"}
    data["model"] = None
    return data


@pytest.fixture(scope="module")
def fingerprinter(tmp_path_factory) -> Fingerprinter:
    f = Fingerprinter(settings_from_dict(local_config(tmp_path_factory.mktemp("es"))))
    yield f
    f.close()


def facts(ua: str, ja4: str | None, ip: str = PHONE, token: str | None = None, path: str = "/v1/media/m1/like") -> RequestFacts:
    headers = {"x-forwarded-for": ip, "user-agent": ua, "accept": "*/*", "accept-language": "en-US"}
    if ja4:
        headers["x-ja4"] = ja4
    if token:
        headers["authorization"] = f"Bearer {token}"
    return RequestFacts(ts=time.time(), method="POST", path=path, peer="10.20.0.98", headers=headers,
                        action="like", target="m1")


def test_the_config_loads_with_its_apps() -> None:
    apps = load_settings(CONFIG).apps
    es = apps.clients[0]
    assert (es.name, es.kind, es.platforms) == ("ExampleSocial", "first_party", ("ios", "android"))
    assert SAFARI_TLS in es.tls["ios"] and SAFARI_TLS in apps.clients[1].tls["web"]  # one stack, two platforms


@pytest.mark.parametrize(
    ("ua", "ja4", "platform", "consistent"),
    [
        (ES_IOS, IOS_TLS, "ios", True),
        (ES_IOS, SAFARI_TLS, "ios", True),
        (ES_ANDROID, ANDROID_TLS, "android", True),
        (ES_ANDROID, PYTHON_TLS, "android", False),  # a script wearing the app's User-Agent
        (ES_ANDROID, IOS_TLS, "android", False),
        (ES_IOS, None, "ios", None),  # no TLS header: nothing to judge
    ],
)
def test_its_apps_parse_as_the_official_app(fingerprinter: Fingerprinter, ua: str, ja4: str | None, platform: str,
                                            consistent: bool | None) -> None:
    fp = fingerprinter.fingerprint(facts(ua, ja4))
    assert (fp.ua_family, fp.ua_platform, fp.ua_official_app) == ("app", platform, True)
    assert fp.ua_info is not None and fp.ua_info.version == "312.0.0.34.109" and fp.ua_info.version_impossible is False
    assert fp.tls_consistent is consistent


async def test_emulated_official_app_fires_on_python_wearing_the_apps_user_agent(tmp_path: Path) -> None:
    minter = TokenMinter("https://auth.example.social", "engagement-api")
    engine = Engine(settings_from_dict(local_config(tmp_path, minter), source=str(CONFIG)), decision_log=False,
                    metrics=False, record_features=True)
    await engine.start()
    try:
        def token(account: str) -> str:
            return minter.mint(account, session_id=f"s-{account}", device_id=f"d-{account}",
                               azp="com.example.social.android", scope="engage")

        script = await engine.decide(facts(ES_ANDROID, PYTHON_TLS, DATACENTER, token("bought")))
        app = await engine.decide(facts(ES_ANDROID, ANDROID_TLS, DATACENTER, token("owner")))
        phone = await engine.decide(facts(ES_ANDROID, ANDROID_TLS, PHONE, token("person")))
    finally:
        await engine.close()
    assert "emulated-official-app" in script.rules, script.explain
    assert "emulated-official-app" not in app.rules, app.explain  # the app itself, even from a datacenter
    assert "emulated-official-app" not in phone.rules and phone.decision == "allow", phone.explain


@pytest.mark.skipif(not SAMPLE.exists(), reason="the ExampleSocial traffic sample is not beside this checkout")
def test_the_samples_app_user_agents_parse_as_the_app(fingerprinter: Fingerprinter) -> None:
    seen = 0
    with gzip.open(SAMPLE, "rt") as lines:
        for _, line in zip(range(1000), lines, strict=False):
            record = json.loads(line)
            ua = record["headers"].get("user-agent", "")
            if not ua.startswith("ExampleSocial"):
                continue
            info = fingerprinter.user_agents.parse(ua)
            expected = "ios" if ua.startswith("ExampleSocial/") else "android"
            assert (info.family, info.platform, info.official_app, info.app) == ("app", expected, True, "ExampleSocial"), ua
            assert info.version is not None
            seen += 1
    assert seen > 100
