"""Sharing: many identities on one piece of infrastructure, read with the network class."""

from __future__ import annotations

from signals_support import T0, Driver, phone, principal, server

from gateway.signals.collector import SHARING_CAP


async def test_carrier_nat_crowd_is_many_accounts_on_a_mobile_address() -> None:
    """Three hundred people behind one carrier-NAT address, each on their own phone.

    ``ip.accounts_1h`` saturates, but the class is mobile, no session moved from its
    birth and each device carries one account. The rule shape that leaves them
    alone: ``ip.accounts_1h > 20 && net.anonymizer`` (or ``&& net.class == 'hosting'``).
    """
    d = Driver()
    cgnat = "100.64.0.1"
    f: dict = {}
    for i in range(300):
        who = principal(f"subscriber-{i}", device=f"phone-{i}")
        fp = phone(ip=cgnat, device=f"phone-{i}")
        await d.birth(who, fp, T0 + i)
        f = await d.act(who, fp, T0 + 600.0 + i, target=f"post-{i % 40}")
        assert f["session.class_changed"] is False and f["session.device_changed"] is False
        assert f["device.accounts_24h"] == 1
    assert f["ip.accounts_1h"] == SHARING_CAP  # saturated, documented
    assert f["ip.sessions_1h"] == SHARING_CAP
    assert f["net.class"] == "mobile" and f["net.anonymizer"] is False
    assert f["asn.accounts_1h"] == SHARING_CAP  # the carrier's mobile pool
    fair_rule = f["ip.accounts_1h"] > 20 and f["net.anonymizer"]
    assert not fair_rule


async def test_twenty_accounts_on_one_datacenter_address_is_not_a_crowd() -> None:
    """The same count the carrier shows, from a hosting address: a fair rule fires."""
    d = Driver()
    f: dict = {}
    for i in range(20):
        f = await d.act(principal(f"farm-{i}"), server(), T0 + 5.0 * i, target=f"post-{i}")
    assert f["ip.accounts_10m"] == 20 and f["net.anonymizer"] is True
    assert f["tls_ua.accounts_10m"] == 20
    fair_rule = f["ip.accounts_1h"] >= 20 and f["net.anonymizer"]
    assert fair_rule


async def test_asn_counts_are_split_by_network_class() -> None:
    """One ASN's mobile pool and its hosting ranges are different crowds."""
    d = Driver()
    for i in range(5):
        await d.act(principal(f"m-{i}"), phone(ip=f"100.64.1.{i}", asn=64999), T0 + i)
    f = await d.act(principal("cloud-1"), server(ip="203.0.113.9", asn=64999), T0 + 10.0)
    assert f["asn.accounts_10m"] == 1
    f = await d.act(principal("m-9"), phone(ip="100.64.1.9", asn=64999), T0 + 11.0)
    assert f["asn.accounts_10m"] == 6


async def test_windows_forget() -> None:
    d = Driver()
    for i in range(4):
        await d.act(principal(f"w-{i}"), server(), T0 + i)
    f = await d.act(principal("late"), server(), T0 + 2 * 3600.0)
    assert (f["ip.accounts_10m"], f["ip.accounts_1h"], f["ip.accounts_24h"]) == (1, 1, 5)
    assert f["ip.sessions_1h"] == 1


async def test_password_sharing_shows_two_live_sessions_in_two_places() -> None:
    """The owner's phone and a service's server act for one account in the same quarter hour."""
    d = Driver()
    own = principal("customer", session="phone", device="android-dev-1")
    svc = principal("customer", session="service", client="partner-scheduler")
    await d.act(own, phone(), T0)
    f = await d.act(svc, server(), T0 + 120.0)
    assert f["account.live_sessions"] == 2
    assert f["account.live_prefixes"] == 2
    assert f["account.live_classes"] == 2
    assert f["account.ips_24h"] == 2 and f["account.asns_24h"] == 2
    assert f["account.countries_24h"] == 2 and f["account.clients_24h"] == 2
    assert "account.devices_24h" not in f  # the server sends no device id: nothing to count
    assert f["app.third_party"] is True and f["app.first_party"] is False
    f = await d.act(own, phone(), T0 + 20 * 60.0)
    assert f["account.live_sessions"] == 1  # the service last acted 18 minutes ago: no longer live
    assert f["account.ips_24h"] == 2 and f["account.devices_24h"] == 1
