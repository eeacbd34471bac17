"""Provenance: a session is compared with how it was born."""

from __future__ import annotations

from signals_support import (
    ANDROID_UA,
    T0,
    Driver,
    moved,
    office,
    phone,
    principal,
    server,
)


async def test_token_born_on_a_phone_replayed_from_a_datacenter() -> None:
    """Born on a phone on a mobile network; replayed by a script in a datacenter with its own UA and TLS."""
    d = Driver()
    who = principal("victim", device="android-dev-1")
    await d.birth(who, phone(), T0)

    own = await d.act(who, phone(), T0 + 120.0)
    assert own["session.known"] is True and own["session.birth_observed"] is True
    for name in ("device", "ua", "platform", "tls", "class", "asn", "country", "client"):
        assert own[f"session.{name}_changed"] is False, name

    stolen = await d.act(who, server(device="emulator-42"), T0 + 3600.0)
    assert stolen["session.born_class"] == "mobile" and stolen["net.class"] == "hosting"
    assert stolen["session.class_changed"] is True
    assert stolen["session.asn_changed"] is True
    assert stolen["session.country_changed"] is True
    assert stolen["session.ua_changed"] is True
    assert stolen["session.tls_changed"] is True
    assert stolen["session.platform_changed"] is True
    assert stolen["session.device_changed"] is True
    assert stolen["session.client_changed"] is False  # the same token: the same client id
    assert stolen["session.age_s"] == 3600.0
    assert stolen["session.born_country"] == "GB"


async def test_a_missing_device_header_is_not_a_device_change() -> None:
    """Without a device header the token's own device claim speaks: absence is not evidence."""
    d = Driver()
    who = principal("quiet", device="android-dev-1")
    await d.birth(who, phone(device=None), T0)
    f = await d.act(who, phone(device=None), T0 + 60.0)
    assert f["device.id"] == "android-dev-1"
    assert f["session.device_changed"] is False


async def test_unknown_tls_or_asn_leaves_the_comparison_out() -> None:
    d = Driver()
    who = principal("partial")
    await d.birth(who, phone(), T0)
    f = await d.act(who, moved(phone(), tls=None, asn=None, country=None), T0 + 60.0)
    for name in ("tls", "asn", "country"):
        assert f"session.{name}_changed" not in f
    assert f["session.ua_changed"] is False


async def test_session_never_seen_born_is_recorded_at_first_use() -> None:
    d = Driver()
    who = principal("orphan", session="restored-session")
    first = await d.act(who, server(), T0)
    assert first["session.known"] is False
    assert not any(k.startswith("session.") and k.endswith("_changed") for k in first)
    second = await d.act(who, phone(), T0 + 30.0)
    assert second["session.known"] is True
    assert second["session.birth_observed"] is False
    assert second["session.born_class"] == "hosting"
    assert second["session.class_changed"] is True


async def test_a_refresh_keeps_the_original_birth() -> None:
    """A token refreshed from a server keeps the session id: the phone birth stays the reference."""
    d = Driver()
    who = principal("refreshed", device="android-dev-1")
    await d.birth(who, phone(), T0)
    await d.birth(who, server(), T0 + 1800.0)
    f = await d.act(who, server(), T0 + 1900.0)
    assert f["session.born_class"] == "mobile" and f["session.class_changed"] is True


async def test_token_network_claims_override_what_the_endpoint_saw() -> None:
    """A backend mints the token for the phone: the token's ip/net_class/asn claims describe the birth."""
    d = Driver()
    who = principal("delegated", claims={"ip": "100.64.99.1", "net_class": "mobile", "asn": 64510, "country": "gb"})
    await d.birth(who, server(ip="10.0.0.5", net_class="hosting"), T0)
    f = await d.act(who, phone(ip="100.64.99.1"), T0 + 10.0)
    assert f["session.born_class"] == "mobile" and f["session.born_country"] == "GB"
    assert f["session.class_changed"] is False and f["session.asn_changed"] is False


async def test_social_media_manager_sessions_keep_their_birth() -> None:
    """Ten accounts, one office IP, one laptop browser: every session is used where it was born.

    The rule shape that leaves them alone: ``ip.accounts_1h > 5 && (session.class_changed ||
    session.device_changed || net.anonymizer)``; sharing alone never condemns.
    """
    d = Driver()
    fp = office(device="laptop-1")
    sessions = [principal(f"brand-{i}", client="engage-web") for i in range(10)]
    for i, who in enumerate(sessions):
        await d.birth(who, fp, T0 + i)
    f: dict = {}
    for round_ in range(3):
        for i, who in enumerate(sessions):
            f = await d.act(who, fp, T0 + 600.0 * (round_ + 1) + 20.0 * i, target=f"post-{round_}-{i}")
            assert f["session.class_changed"] is False
            assert f["session.device_changed"] is False
            assert f["session.ua_changed"] is False
            assert f["account.ips_24h"] == 1
    assert f["ip.accounts_1h"] == 10 and f["device.accounts_1h"] == 10
    fair_rule = f["ip.accounts_1h"] > 5 and (f["session.class_changed"] or f["session.device_changed"] or f["net.anonymizer"])
    assert not fair_rule


async def test_ua_change_on_the_same_phone_after_an_app_update() -> None:
    d = Driver()
    who = principal("updater", device="android-dev-1")
    await d.birth(who, phone(), T0)
    f = await d.act(who, moved(phone(), user_agent=ANDROID_UA.replace("312.0", "313.0")), T0 + 86400.0)
    assert f["session.ua_changed"] is True  # reported, but the platform, TLS, device and network agree
    assert f["session.platform_changed"] is False and f["session.tls_changed"] is False
