"""The crowd: a farm's pool turning up target after target vs. fans, households and repeat visits."""

from __future__ import annotations

from signals_support import T0, Driver, moved, phone, principal

from gateway.facts import RequestFacts
from gateway.signals.collector import CROWD_MIN
from gateway.state.store import CROWD_CAP, HOUR


def home_line(i: int):
    """The platform's own app on a home line: a careful farm's residential-proxy exit looks the same."""
    return moved(phone(ip=f"81.{10 + i % 200}.{i // 200}.7", device=f"dev-{i}"), net_class="residential",
                 asn=64600 + i % 50)


async def test_a_pool_working_through_bought_posts_meets_itself_again() -> None:
    d = Driver()
    pool = [principal(f"farm-{i}") for i in range(12)]
    seen = []
    for order in range(4):  # one bought post every two hours; each account likes it once, minutes apart
        for i, who in enumerate(pool):
            f = await d.act(who, home_line(i), T0 + order * 2 * HOUR + 300.0 * i, target=f"bought-{order}")
            seen.append((order, i, f))
    first = [f for order, _, f in seen if order == 0]
    assert [f["target.crowd_24h"] for f in first] == list(range(12))  # the others already on it
    assert all(f["account.crowd_known"] == 0 for f in first)  # nothing to compare with yet
    last = seen[-1][2]  # the last account on the fourth post has met everyone on the way
    assert last["account.crowd_known"] == 11
    assert last["account.crowd_targets_24h"] >= 2
    assert last["account.targets_24h"] == 4
    late = [f for order, i, f in seen if order == 3 and i >= CROWD_MIN + 1]
    assert all(f["account.crowd_known"] >= CROWD_MIN for f in late)


async def test_a_popular_posts_full_crowd_counts_and_teaches_nothing() -> None:
    d = Driver()
    early = [principal(f"early-{i}") for i in range(CROWD_CAP)]
    late = [principal(f"late-{i}") for i in range(10)]
    for i, who in enumerate(early + late):  # a trending post: more fans than a crowd holds
        await d.act(who, home_line(i), T0 + 10.0 * i, target="trending")
    for i, who in enumerate(late):  # the late fans found its crowd full: they learned nothing there
        f = await d.act(who, home_line(CROWD_CAP + i), T0 + HOUR + 10.0 * i, target=f"small-{i}")
        assert f["account.crowd_known"] == 0
    for i, who in enumerate(early):  # the next trending post: once its crowd is full, nobody counts
        f = await d.act(who, home_line(i), T0 + 2 * HOUR + 10.0 * i, target="trending-2")
    f = await d.act(late[0], home_line(CROWD_CAP), T0 + 3 * HOUR, target="trending-2")
    assert f["target.crowd_24h"] == CROWD_CAP
    assert f["account.crowd_known"] == 0


async def test_a_second_visit_to_the_same_target_counts_nothing() -> None:
    d = Driver()
    people = [principal(f"p-{i}") for i in range(8)]
    for i, who in enumerate(people):
        await d.act(who, home_line(i), T0 + 60.0 * i, target="post")
    f = await d.act(people[0], home_line(0), T0 + HOUR, action="comment", target="post")  # another action kind
    assert f["account.crowd_known"] == 0
    f = await d.act(people[0], home_line(0), T0 + 2 * HOUR, target="post")  # liking the same post again
    assert f["target.crowd_24h"] == 7
    assert f["account.crowd_known"] == 0  # its crowd was learned here: not a crowd met again
    assert f["account.crowd_targets_24h"] == 0


async def test_a_household_is_too_few_to_be_a_crowd() -> None:
    d = Driver()
    family = [principal(f"family-{i}") for i in range(CROWD_MIN)]
    for post in range(6):  # four people liking every family photo
        for i, who in enumerate(family):
            f = await d.act(who, home_line(0), T0 + post * HOUR + 60.0 * i, target=f"family-photo-{post}")
            assert f["account.crowd_known"] <= CROWD_MIN - 1
            assert f["account.crowd_targets_24h"] == 0


async def test_a_crowd_decision_pins_the_session_and_its_known_crowd() -> None:
    d = Driver()
    pool = [principal(f"ring-{i}") for i in range(8)]
    for order in range(4):
        for i, who in enumerate(pool[:-1] if order == 3 else pool):
            await d.act(who, home_line(i), T0 + order * HOUR + 60.0 * i, target=f"order-{order}")
    ts = T0 + 4 * HOUR
    facts = RequestFacts(ts=ts, method="POST", path="/v1/media/order-3/like", peer="127.0.0.1", headers={},
                         action="like", target="order-3")
    collector = d.collector  # the engine's path, to read the plan's sticky keys
    plan = collector.plan(facts, pool[-1], home_line(7))
    features = collector.features(plan, (await d.store.exchange(plan.ops, ts)).values)
    keys = collector.sticky_keys(plan, "crowd")
    assert keys[0] == "s:sess-ring-7"
    assert sorted(keys[1:]) == sorted(f"s:sess-ring-{i}" for i in range(7))
    assert features["account.crowd_known"] == 7
    assert collector.sticky_keys(plan, "session") == ["s:sess-ring-7"]
