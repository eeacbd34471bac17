"""Lockstep: a like ring on one post from one /24 vs. a viral post liked from everywhere."""

from __future__ import annotations

import random

from signals_support import T0, Driver, phone, principal, server

from gateway.signals import lockstep


async def test_twenty_accounts_liking_one_post_from_one_prefix_is_a_burst() -> None:
    d = Driver()
    ring = [principal(f"ring-{i}") for i in range(20)]
    f: dict = {}
    for i, who in enumerate(ring):
        f = await d.act(who, server(ip=f"203.0.113.{10 + i}"), T0 + 3.0 * i, target="bought-post")
    assert f["target.actions_5m"] == 20
    assert f["target.accounts_5m"] == 20
    assert f["target.top_prefix_share_5m"] == 1.0
    assert f["target.top_asn_share_5m"] == 1.0
    assert f["target.anonymized_share_5m"] == 1.0
    assert f["account.burst_targets_1h"] == 1 and f["account.burst_share_1h"] == 1.0
    # Each ring member's next like (elsewhere) remembers the burst it joined (from the tenth on).
    later = await d.act(ring[15], server(ip="203.0.113.25"), T0 + 600.0, target="another-post")
    assert later["account.burst_targets_1h"] == 1
    assert later["account.burst_share_1h"] == 0.5
    early = await d.act(ring[2], server(ip="203.0.113.12"), T0 + 600.0, target="another-post-2")
    assert early["account.burst_targets_1h"] == 0  # it liked before the crowd formed


async def test_a_viral_post_liked_from_everywhere_is_not_a_burst() -> None:
    """Thousands of likes in minutes, from many carriers and home lines: no share crosses the bar."""
    rng = random.Random(3)
    d = Driver()
    f: dict = {}
    for i in range(2000):
        ip = f"{rng.choice((100, 81, 92, 176))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        fp = phone(ip=ip, asn=rng.choice((64510, 64511, 64512, 64513, 64514)), device=f"d{i}")
        f = await d.act(principal(f"fan-{i}"), fp, T0 + 0.15 * i, target="viral-post")
        assert f["account.burst_targets_1h"] == 0
    assert f["target.actions_5m"] == lockstep.MAX_RECENT + 1  # saturated sample, documented
    assert f["target.accounts_5m"] == lockstep.MAX_RECENT + 1
    assert f["target.top_prefix_share_5m"] < 0.2
    assert f["target.anonymized_share_5m"] == 0.0
    assert f["target.top_asn_share_5m"] < lockstep.BURST_ASN_SHARE


async def test_one_city_carrier_on_a_local_post_is_not_a_burst() -> None:
    """Every like from one mobile ASN (a local post, one dominant carrier): ASN share alone never condemns."""
    d = Driver()
    f: dict = {}
    for i in range(30):
        f = await d.act(principal(f"local-{i}"), phone(ip=f"100.{64 + i}.3.4", device=f"d{i}"), T0 + 5.0 * i,
                        target="bakery-post")
    assert f["target.top_asn_share_5m"] == 1.0
    assert f["target.top_prefix_share_5m"] < 0.1
    assert f["account.burst_targets_1h"] == 0


async def test_the_window_is_five_minutes() -> None:
    d = Driver()
    for i in range(5):
        await d.act(principal(f"early-{i}"), server(), T0 + i, target="slow-post")
    f = await d.act(principal("late"), server(), T0 + 301.0 + 4, target="slow-post")
    assert f["target.actions_5m"] == 1 and f["target.accounts_5m"] == 1


async def test_requests_without_a_target_have_no_lockstep_features() -> None:
    d = Driver()
    f = await d.act(principal("reader"), phone(), T0, action="login", target=None)
    assert not any(k.startswith("target.") for k in f)
    assert "account.burst_targets_1h" not in f


def test_burst_rule_by_hand() -> None:
    out: dict = {}
    prior = [lockstep.encode(T0 - i, f"acct{i}", "203.0.113.0/24", "64496/hosting", True) for i in range(12)]
    assert lockstep.target_features(T0, "me", "203.0.113.0/24", "64496/hosting", True, prior, out)
    prior = [lockstep.encode(T0 - i, f"acct{i}", f"10.{i}.0.0/24", "64510/mobile", False) for i in range(12)]
    assert not lockstep.target_features(T0, "me", "10.99.0.0/24", "64510/mobile", False, prior, out)
    few = [lockstep.encode(T0 - i, f"acct{i}", "203.0.113.0/24", "64496/hosting", True) for i in range(5)]
    assert not lockstep.target_features(T0, "me", "203.0.113.0/24", "64496/hosting", True, few, out)
