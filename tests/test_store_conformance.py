"""Both state-store backends implement the entity contract (gateway.state.store) exactly.

Every test drives a store on an injected clock and checks exact values; the
``store`` fixture runs each test against the memory backend and against the
real Redis on 127.0.0.1:6379 (under a unique key prefix, removed afterwards).
Expected values come from the contract's text, never from either backend.
"""

from __future__ import annotations

import math
import random
import uuid

import pytest
from redis_support import REDIS_URL, drop_keys, redis_or_skip

from gateway.state.memory import MemoryStore
from gateway.state.store import (
    ACCOUNT_CAP,
    ACCOUNT_KINDS,
    CROWD_CAP,
    CROWD_WINDOW,
    DAY,
    HOUR,
    HOURS,
    MOVE_GAP,
    MOVES_MAX,
    PEERS_MAX,
    RECENT_TTL,
    SESSION_TTL,
    SHARED_CAP,
    SLOT_S,
    TARGET_MAX,
    TARGET_TTL,
    TIMES_MAX,
    Account,
    Birth,
    Crowd,
    Mark,
    Peers,
    Session,
    Shared,
    Stick,
    Target,
)

T0 = 1_700_000_000.0

# Account result fields, and the flat counts' positions (ACCOUNT_WINDOWS order)
COUNTS, TIMES, HOURS_, HOUR_N, HOUR_PREV, DAY_N, DAY_PREV, LOC, PEERS, STICKY = range(10)
IPS_24H, PREFIXES_LIVE, PREFIXES_24H, SESSIONS_LIVE, CLASSES_LIVE = range(5)
ASNS_24H, COUNTRIES_24H, DEVICES_24H, CLIENTS_24H, TARGETS_1H, TARGETS_24H, BURSTS_1H, CROWDS_24H = range(5, 13)

# members a caller may hand over verbatim (crowds, peers): answered back exactly as given
ODD = ("", " ", "s:1", "x" * 5000, "Zoë 😀 中文", '"quoted" \\ back/slash', "tab\tnew\nline\r\x00nul\x7f",
       "\u2028\u2029", "\ud800 lone", "[1, 2]", "null", "123", "1e5", "false", "{}", "\xff\xfe")


async def open_redis_store():
    """A RedisStore on the local server under a fresh prefix, or skip."""
    redis_store = pytest.importorskip("gateway.state.redis_store")
    from gateway.settings import State

    probe = await redis_or_skip()
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    # a generous timeout: these tests check semantics, not the outage path
    state = State(backend="redis", url=REDIS_URL, prefix=prefix, timeout_ms=2000.0)
    return redis_store.RedisStore(state), probe, prefix


async def drop_prefix(probe, prefix: str) -> None:
    await drop_keys(probe, prefix)
    await probe.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    if request.param == "memory":
        opened = MemoryStore()
        yield opened
        await opened.close()
        return
    opened, probe, prefix = await open_redis_store()
    yield opened
    await opened.close()
    await drop_prefix(probe, prefix)


@pytest.fixture
async def redis_only():
    opened, probe, prefix = await open_redis_store()
    yield opened
    await opened.close()
    await drop_prefix(probe, prefix)


async def run(store, ops, now):
    result = await store.exchange(list(ops), now)
    assert result.degraded is False
    assert len(result.values) == len(ops)
    return result.values


async def one(store, op, now):
    [value] = await run(store, [op], now)
    return value


def members(**seen: str) -> tuple[str, ...]:
    """An Account op's members: the named kinds, "" (nothing seen) for the rest."""
    assert set(seen) <= set(ACCOUNT_KINDS)
    return tuple(seen.get(kind, "") for kind in ACCOUNT_KINDS)


def act(key: str = "a:1", loc: str = "loc", **seen: str) -> Account:
    return Account(key, members(**seen), loc)


# -- results and their types ----------------------------------------------------------


async def test_result_shapes_and_types(store):
    now = T0 + 0.5
    values = await run(store, [
        Birth("s:1", "born"), Session("s:1", "use", "L1"), Shared("ip:1", "acct", "sess"),
        act(ip="1.2.3.4", prefix="1.2.3", session="sess", **{"class": "mobile"}), Target("t:1", "r1"),
        Crowd("c:1", "s:1"), Mark("a:1", "like:p"), Peers("a:1", ("s:2",)), Stick("ip:1", "block|r|1", now + 5),
    ], now)
    birth, session, shared, account, target, crowd, mark, peers, stick = values
    assert birth is None and mark is None and peers is None and stick is None
    assert session == ("born", [], None, None, 0, 0) and isinstance(session, tuple) and type(session[1]) is list
    assert shared == (1, 1, 1, 1, None) and isinstance(shared, tuple)
    assert isinstance(account, tuple) and len(account) == 10
    counts, hours = account[COUNTS], account[HOURS_]
    assert type(counts) is list and counts == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert type(account[TIMES]) is list and account[TIMES] == []
    assert type(hours) is list and hours == [1]
    assert account[HOUR_N:] == (1, 0, 1, 0, None, [], None) and type(account[PEERS]) is list
    assert target == [] and type(target) is list
    assert crowd == [] and type(crowd) is list
    account = await one(store, act(), now + 1)
    assert account[PEERS] == ["s:2"] and type(account[PEERS]) is list and len(account[COUNTS]) == 13
    assert await one(store, Crowd("c:1", "s:2"), now + 1) == ["s:1"]
    assert all(type(c) is int for c in counts + hours + list(shared[:4]))


async def test_empty_batch(store):
    result = await store.exchange([], T0)
    assert result.values == [] and result.degraded is False


# -- recency sets: windows, clamp, caps -----------------------------------------------


async def test_shared_counts_each_window_open_below(store):
    key = "ip:203.0.113.7"
    seen = []
    for offset, account, session in [(0, "a", "s1"), (10, "b", "s2"), (20, "a", "s1"), (700, "c", "s3"),
                                     (3700, "d", "s4"), (3710, "d", "s4")]:
        seen.append((await one(store, Shared(key, account, session), T0 + offset))[:4])
    assert seen == [(1, 1, 1, 1), (2, 2, 2, 2), (2, 2, 2, 2), (1, 3, 3, 3), (1, 2, 4, 2), (1, 2, 4, 2)]
    # exactly one window after a member was last seen it no longer counts: t > now - w
    assert (await one(store, Shared(key, "d", "s4"), T0 + 700 + 3600))[:4] == (1, 1, 4, 1)
    assert (await one(store, Shared(key, "d", "s4"), T0 + 20 + DAY))[:4] == (1, 1, 2, 1)


async def test_shared_counts_on_a_clock_near_zero(store):
    """A virtual clock starting at 0 (a simulation): a stored time, never a position in the record, is clamped on."""
    key = "ip:clock-zero"
    seen = [(await one(store, Shared(key, account, "s"), now))[:4]
            for now, account in [(10.0, "a"), (20.0, "b"), (640.0, "c")]]
    assert seen == [(1, 1, 1, 1), (2, 2, 2, 1), (1, 3, 3, 1)]


async def test_shared_sets_are_independent(store):
    # one account on many sessions, and one session for many accounts
    out = await run(store, [Shared("dev:x", "a", f"s{i}") for i in range(5)], T0)
    assert [v[:4] for v in out] == [(1, 1, 1, i) for i in range(1, 6)]
    out = await run(store, [Shared("dev:x", f"b{i}", "s0") for i in range(3)], T0 + 1)
    assert [v[:4] for v in out] == [(i, i, i, 5) for i in range(2, 5)]


async def test_seeing_clamps_to_the_newest_time_and_counts_have_no_upper_bound(store):
    key = "pfx:198.51.100"
    assert (await one(store, Shared(key, "a", "s"), T0 + 100))[:4] == (1, 1, 1, 1)
    # a replica whose clock is 100 s behind: "a" (stored at T0+100) still counts, "b" is stored at T0+100
    assert (await one(store, Shared(key, "b", "s"), T0))[:4] == (2, 2, 2, 1)
    # 650 s later "b" would be out of the 10-minute window had it been stored at T0
    assert (await one(store, Shared(key, "a", "s"), T0 + 650))[:4] == (2, 2, 2, 1)
    assert (await one(store, Shared(key, "a", "s"), T0 + 701))[:4] == (1, 2, 2, 1)


async def test_shared_cap_drops_the_least_recently_seen(store):
    key = "asn:64500/mobile"
    out = await run(store, [Shared(key, f"a{i}", "s") for i in range(SHARED_CAP)], T0)
    assert out[-1][:3] == (SHARED_CAP, SHARED_CAP, SHARED_CAP)
    await one(store, Shared(key, "a0", "s"), T0 + 100)  # a0 seen again: a1 is now the least recent
    assert (await one(store, Shared(key, "new", "s"), T0 + 200))[:3] == (SHARED_CAP,) * 3  # a1 dropped
    # 650 s on: a0 (T0+100) and "new" (T0+200) are the only ones in the 10-minute window
    assert (await one(store, Shared(key, "new", "s"), T0 + 650))[:3] == (2, SHARED_CAP, SHARED_CAP)
    # a1 was dropped: seeing it again drops a2, the count stays at the cap
    assert (await one(store, Shared(key, "a1", "s"), T0 + 651))[:3] == (3, SHARED_CAP, SHARED_CAP)


async def test_account_counts_each_kind_over_its_windows(store):
    first = await one(store, act(ip="i1", prefix="p1", session="s1", asn="64500", country="NL", device="d1",
                                  client="app", target="like:m1", **{"class": "mobile"}), T0)
    assert first[COUNTS] == [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    second = await one(store, act(ip="i2", prefix="p2", session="s2", asn="64501", country="DE", device="d2",
                                   client="web", target="like:m2", crowd="like:m2", **{"class": "hosting"}),
                       T0 + 1000)
    # the prefix and session and class windows are 15 minutes: the first ones are out
    assert second[COUNTS] == [2, 1, 2, 1, 1, 2, 2, 2, 2, 2, 2, 0, 1]
    # "" sees nothing but still reads the counts; the first target is out of the hour, not the day
    third = await one(store, act(), T0 + 3700)
    assert third[COUNTS] == [2, 0, 2, 0, 0, 2, 2, 2, 2, 1, 2, 0, 1]
    assert third[TIMES] == [T0 + 1000, T0]
    # a day after the first op it is out of every day window; a day after the second, nothing is left
    fourth = await one(store, act(), T0 + DAY)
    assert fourth[COUNTS] == [1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1]
    fifth = await one(store, act(), T0 + 1000 + DAY)
    assert fifth[COUNTS] == [0] * 13


async def test_account_cap_per_kind_drops_the_least_recently_seen(store):
    await run(store, [act(prefix=f"p{i}") for i in range(ACCOUNT_CAP)], T0)
    await one(store, act(prefix="p0"), T0 + 100)  # p0 seen again: p1 is now the least recent
    out = await one(store, act(prefix="new", ip="x"), T0 + 200)
    assert out[COUNTS][PREFIXES_LIVE:PREFIXES_24H + 1] == [ACCOUNT_CAP, ACCOUNT_CAP]
    assert out[COUNTS][IPS_24H] == 1  # caps are per kind
    # 950 s on (15-minute cut at T0+50): p0 and "new" are live, so p0 was kept and p1 dropped
    out = await one(store, act(prefix="new"), T0 + 950)
    assert out[COUNTS][PREFIXES_LIVE:PREFIXES_24H + 1] == [2, ACCOUNT_CAP]


async def test_each_account_kind_clamps_on_its_own_newest_time(store):
    await one(store, act(ip="i1", target="like:a"), T0 + 100)
    # a clock 100 s behind: the burst set is empty, so the mark is stored at T0
    await one(store, Mark("a:1", "like:a"), T0)
    out = await one(store, act(), T0 + 3599)
    assert out[COUNTS][TARGETS_1H] == 1 and out[COUNTS][BURSTS_1H] == 1
    out = await one(store, act(), T0 + 3600)
    assert out[COUNTS][TARGETS_1H] == 1 and out[COUNTS][BURSTS_1H] == 0
    # marks behind the burst set's newest are stored at it
    await run(store, [Mark("a:1", "like:b"), Mark("a:1", "like:c")], T0 + 200)
    await one(store, Mark("a:1", "like:d"), T0 + 150)
    out = await one(store, act(), T0 + 200 + 3599)
    assert out[COUNTS][BURSTS_1H] == 3 and out[COUNTS][TARGETS_1H] == 0


async def test_marks_count_distinct_targets_in_the_burst_set(store):
    await run(store, [Mark("a:1", "like:a"), Mark("a:1", "like:b"), Mark("a:1", "like:a")], T0)
    out = await one(store, act(target="like:c"), T0 + 10)
    assert out[COUNTS][TARGETS_1H] == 1 and out[COUNTS][BURSTS_1H] == 2
    await run(store, [Mark("a:1", f"like:{i}") for i in range(ACCOUNT_CAP + 10)], T0 + 20)
    out = await one(store, act(), T0 + 30)
    assert out[COUNTS][BURSTS_1H] == ACCOUNT_CAP


# -- times, locations, births --------------------------------------------------------


async def test_session_times_newest_first_bounded_and_exact(store):
    nows = [T0 + 0.1 * i + 1 / 3 for i in range(TIMES_MAX + 5)]
    results = [await one(store, Session("s:t", "b", f"L{i}"), now) for i, now in enumerate(nows)]
    assert results[0] == (None, [], None, None, 0, 0)
    assert results[1] == ("b", [nows[0]], "L0", None, 0, 0)
    assert results[TIMES_MAX + 1][1] == nows[TIMES_MAX::-1][:TIMES_MAX]
    assert results[-1][1] == nows[-2::-1][:TIMES_MAX]
    assert all(type(t) is float for t in results[-1][1])
    assert [r[2] for r in results[1:]] == [f"L{i}" for i in range(len(nows) - 1)]


async def test_times_and_location_cleared_after_recent_ttl_idle(store):
    last = T0 + 0.25
    await one(store, Session("s:x", "b", "L1"), last)
    assert await one(store, Session("s:x", "b2", "L2"), last + RECENT_TTL - 0.5) == ("b", [last], "L1", None, 0, 0)
    last += RECENT_TTL - 0.5
    # idle exactly RECENT_TTL: times and location are gone, the birth stays
    assert await one(store, Session("s:x", "b3", "L3"), last + RECENT_TTL) == ("b", [], None, None, 0, 0)
    # the same for an account
    await one(store, act(ip="i", loc="A1"), T0)
    out = await one(store, act(loc="A2"), T0 + RECENT_TTL - 1)
    assert out[TIMES] == [T0] and out[LOC] == "A1"
    await one(store, Mark("a:1", "like:x"), T0 + 2 * RECENT_TTL - 2)  # keeps the record alive, is no action
    out = await one(store, act(loc="A3"), T0 + 2 * RECENT_TTL - 1)
    assert out[TIMES] == [] and out[LOC] is None and out[COUNTS][BURSTS_1H] == 1


async def test_times_last_is_the_greatest_action_time(store):
    await one(store, Session("s:c", "b", "L1"), T0 + 100)
    await one(store, Session("s:c", "b", "L2"), T0)  # a clock behind: last stays T0+100
    out = await one(store, Session("s:c", "b", "L3"), T0 + 100 + RECENT_TTL - 1)
    assert out[1] == [T0, T0 + 100] and out[2] == "L2"


async def test_birth_is_kept_and_first_use_records_one(store):
    assert await run(store, [Birth("s:b", "token"), Birth("s:b", "again")], T0) == [None, None]
    assert (await one(store, Session("s:b", "first-use", "L"), T0 + 1))[0] == "token"
    assert (await one(store, Session("s:u", "first-use", "L"), T0 + 1))[0] is None
    assert (await one(store, Session("s:u", "second-use", "L"), T0 + 2))[0] == "first-use"
    await one(store, Birth("s:u", "token-later"), T0 + 3)
    assert (await one(store, Session("s:u", "x", "L"), T0 + 4))[0] == "first-use"


async def test_session_lives_session_ttl_after_its_last_touch(store):
    await one(store, Birth("s:l", "token"), T0)
    await one(store, Birth("s:l", "other"), T0 + 10)  # a touch, though it keeps the first birth
    assert (await one(store, Session("s:l", "u", "L"), T0 + 10 + SESSION_TTL - 1))[0] == "token"
    last = T0 + 10 + SESSION_TTL - 1
    assert (await one(store, Session("s:l", "u2", "L"), last + SESSION_TTL))[0] is None


async def test_shared_and_account_live_recent_ttl_after_their_last_touch(store):
    await one(store, Shared("ip:r", "a", "s"), T0)
    assert (await one(store, Shared("ip:r", "b", "s2"), T0 + RECENT_TTL - 1))[:4] == (1, 1, 2, 1)
    assert (await one(store, Shared("ip:r", "c", "s3"), T0 + 2 * RECENT_TTL - 1))[:4] == (1, 1, 1, 1)
    await one(store, act(key="a:r", device="d1"), T0)
    await one(store, Mark("a:r", "like:x"), T0 + RECENT_TTL - 1)
    out = await one(store, act(key="a:r"), T0 + 2 * RECENT_TTL - 2)
    assert out[COUNTS][BURSTS_1H] == 0 and out[HOUR_PREV] == 0 and out[DAY_N] == 1
    # idle a full RECENT_TTL: a fresh account (alive, the day before would be counted)
    out = await one(store, act(key="a:r"), T0 + 3 * RECENT_TTL - 2)
    assert out[HOUR_N] == 1 and out[DAY_N] == 1 and out[DAY_PREV] == 0


# -- the account's active hours and buckets ------------------------------------------------


def expected_hours(times: list[float], now: float) -> list[int]:
    """The contract's ``hours``, for a clock that only moves forward: per active clock hour, its distinct slots."""
    current = math.floor(now / HOUR)
    slots: dict[int, set[int]] = {}
    for t in times:
        hour = math.floor(t / HOUR)
        if current - HOURS < hour <= current:
            slots.setdefault(hour, set()).add(math.floor(t / SLOT_S))
    return [len(slots[hour]) for hour in sorted(slots)]


async def test_hours_count_distinct_active_slots_per_clock_hour(store):
    rng = random.Random(5)
    now, times = T0, []
    for _ in range(150):
        now += rng.choice([1.0, 30.0, 600.0, 1799.5, 3600.0, 7000.25])
        times.append(now)
        out = await one(store, act(loc=str(now)), now)
        assert out[HOURS_] == expected_hours(times, now), now
    assert sum(out[HOURS_]) < len({math.floor(t / SLOT_S) for t in times})  # older hours dropped


async def test_hours_edges(store):
    hb = math.floor(T0 / HOUR) * HOUR  # a clock hour's start (and a slot's)
    assert (await one(store, act(), hb - 0.5))[HOURS_] == [1]
    assert (await one(store, act(), hb))[HOURS_] == [1, 1]
    assert (await one(store, act(), hb + SLOT_S - 0.5))[HOURS_] == [1, 1]  # the same slot
    assert (await one(store, act(), hb + 2 * SLOT_S))[HOURS_] == [1, 2]
    # a slot arriving out of order, before the hour's last counted one: not counted again
    assert (await one(store, act(), hb + SLOT_S))[HOURS_] == [1, 2]
    # 23 hours on, the hour before hb is out of the last HOURS clock hours
    assert (await one(store, act(), hb + 23 * HOUR))[HOURS_] == [2, 1]
    assert (await one(store, act(), hb + 24 * HOUR))[HOURS_] == [1, 1]


async def test_hours_stay_bounded_when_the_clock_swings(store):
    # a replay file out of order: every action a new entry; no more than HOURS are kept, the newest added
    hb = math.floor(T0 / HOUR) * HOUR
    for i in range(3 * HOURS):
        out = await one(store, act(), hb + (0 if i % 2 else 100 * HOUR) + i * SLOT_S)
        assert len(out[HOURS_]) == min(i + 1, HOURS), i
    assert out[HOURS_] == [1] * HOURS


async def test_hour_and_day_buckets(store):
    h0 = math.floor(T0 / DAY) * DAY + 5 * HOUR  # 05:00 on a day
    out = [await one(store, act(), t) for t in (h0 + 1, h0 + 2, h0 + HOUR, h0 + HOUR + 5, h0 + HOUR + 6)]
    assert [(o[HOUR_N], o[HOUR_PREV]) for o in out] == [(1, 0), (2, 0), (1, 2), (2, 2), (3, 2)]
    assert [(o[DAY_N], o[DAY_PREV]) for o in out] == [(i, 0) for i in range(1, 6)]
    # a clock behind, in the bucket before: starts at 1, the previous one (06:00) is not "just before"
    o = await one(store, act(), h0 + HOUR - 1)
    assert (o[HOUR_N], o[HOUR_PREV]) == (1, 0)
    # back to 06:00: just after the stored 05:00 bucket
    o = await one(store, act(), h0 + HOUR + 7)
    assert (o[HOUR_N], o[HOUR_PREV]) == (1, 1)
    # a gap of an idle hour: the previous count is 0
    o = await one(store, act(), h0 + 3 * HOUR)
    assert (o[HOUR_N], o[HOUR_PREV]) == (1, 0)
    # the next day (within RECENT_TTL)
    o = await one(store, act(), math.floor(T0 / DAY) * DAY + DAY + 60)
    assert (o[DAY_N], o[DAY_PREV]) == (1, 8)


# -- targets -------------------------------------------------------------------------


async def test_target_list_newest_first_bounded(store):
    results = [await one(store, Target("t:like:m", f"r{i}"), T0 + i) for i in range(TARGET_MAX + 3)]
    assert results[0] == [] and results[1] == ["r0"]
    assert results[-1] == [f"r{i}" for i in range(TARGET_MAX + 1, 1, -1)][:TARGET_MAX]
    assert len(results[-1]) == TARGET_MAX


async def test_target_dropped_after_target_ttl_idle(store):
    await one(store, Target("t:x", "r1"), T0)
    assert await one(store, Target("t:x", "r2"), T0 + TARGET_TTL - 0.5) == ["r1"]
    assert await one(store, Target("t:x", "r3"), T0 + 2 * TARGET_TTL - 0.5) == []


# -- crowds ----------------------------------------------------------------------------


async def test_crowd_answers_the_members_seen_within_its_window_least_recent_first(store):
    key = "c:like:m"
    out = [await one(store, Crowd(key, member), T0 + offset)
           for offset, member in [(0, "s1"), (10, "s2"), (20, "s1"), (30, "s3"), (30, "s3")]]
    # each answer is the set before this op's member is seen; seeing moves a member to the newest end
    assert out == [[], ["s1"], ["s1", "s2"], ["s2", "s1"], ["s2", "s1", "s3"]]
    # exactly a window after a member was last seen it is out: t > now - CROWD_WINDOW
    assert await one(store, Crowd(key, "s4"), T0 + 10 + CROWD_WINDOW) == ["s1", "s3"]
    assert await one(store, Crowd(key, "s4"), T0 + 20 + CROWD_WINDOW) == ["s3", "s4"]
    # crowds are per key
    assert await one(store, Crowd("c:like:other", "s1"), T0 + 20 + CROWD_WINDOW) == []


async def test_crowd_clamps_to_its_newest_time(store):
    key = "c:like:k"
    assert await one(store, Crowd(key, "s0"), T0) == []
    assert await one(store, Crowd(key, "s1"), T0 + 100) == ["s0"]
    # a clock 50 s behind: s2 is stored at T0+100, after s1
    assert await one(store, Crowd(key, "s2"), T0 + 50) == ["s0", "s1"]
    # a day after T0+60: s2 would be out had it been stored at T0+50
    assert await one(store, Crowd(key, "s3"), T0 + 60 + CROWD_WINDOW) == ["s1", "s2"]
    # re-seen behind the newest time: stored at it (T0+60+DAY), moved to the newest end
    assert await one(store, Crowd(key, "s1"), T0 + 55 + CROWD_WINDOW) == ["s1", "s2", "s3"]
    assert await one(store, Crowd(key, "s4"), T0 + 100 + CROWD_WINDOW) == ["s3", "s1"]
    # s1 would be out had it been stored at T0+55+DAY
    assert await one(store, Crowd(key, "s5"), T0 + 58 + 2 * CROWD_WINDOW) == ["s3", "s1", "s4"]


async def test_crowd_cap_drops_the_least_recently_seen(store):
    key = "c:like:busy"
    names = [f"s{i}" for i in range(CROWD_CAP + 5)]
    out = await run(store, [Crowd(key, name) for name in names], T0)
    # a full crowd answers None (a popular target): its members are not sent
    assert out == [names[:i] if i < CROWD_CAP else None for i in range(len(names))]
    # at the cap: s5 seen again moves to the newest end, nothing dropped
    assert await one(store, Crowd(key, "s5"), T0 + 1) is None
    # a new member drops the least recent (s6), a dropped one comes back as new (dropping s7)
    assert await run(store, [Crowd(key, "new"), Crowd(key, "s0"), Crowd(key, "end")], T0 + 2) == [None] * 3
    # a day on, only the last three are in the window; s6, s7 and s8 were dropped
    kept = [*names[9:], "s5", "new", "s0", "end"]
    assert len(kept) == CROWD_CAP
    assert await one(store, Crowd(key, "late"), T0 + CROWD_WINDOW + 1.5) == kept[-3:]


async def test_crowd_lives_its_window_after_its_last_touch(store):
    key = "c:like:l"
    await one(store, Crowd(key, "s1"), T0)
    assert await one(store, Crowd(key, "s2"), T0 + CROWD_WINDOW - 0.5) == ["s1"]
    assert await one(store, Crowd(key, "s3"), T0 + 2 * CROWD_WINDOW - 1) == ["s2"]
    # idle a whole window: gone (each member's window ended with the record)
    assert await one(store, Crowd(key, "s4"), T0 + 3 * CROWD_WINDOW - 1) == []
    # a crowd under a key holding another kind sees it as absent, and is absent to it in turn
    await one(store, Target("c:like:t", "r1"), T0)
    assert await one(store, Crowd("c:like:t", "s1"), T0 + 1) == []
    assert await one(store, Target("c:like:t", "r2"), T0 + 2) == []
    assert await one(store, Crowd("c:like:t", "s2"), T0 + 3) == []


async def test_crowd_members_come_back_verbatim(store):
    key = "c:like:odd"
    out = await run(store, [Crowd(key, member) for member in ODD], T0)
    assert out[-1] == list(ODD[:-1]) and all(type(m) is str for m in out[-1])
    # "" is a member like any other; the same text again is the same member
    assert await one(store, Crowd(key, ""), T0 + 1) == list(ODD)
    assert await one(store, Crowd(key, ODD[3]), T0 + 2) == [*ODD[1:], ""]


async def test_a_stick_on_a_crowd_is_refused(store):
    with pytest.raises(ValueError, match="never a target or a crowd"):
        await store.exchange([Stick("c:like:m1", "block|r|x", T0 + 5)], T0)


# -- marks and peers ------------------------------------------------------------------


async def test_marks_into_the_crowd_set(store):
    await run(store, [Mark("a:1", "like:a", "crowd"), Mark("a:1", "like:b", "crowd"),
                      Mark("a:1", "like:a", "crowd"), Mark("a:1", "like:c", "burst"), Mark("a:1", "like:d")], T0)
    out = await one(store, act(), T0 + 10)
    assert out[COUNTS][CROWDS_24H] == 2 and out[COUNTS][BURSTS_1H] == 2 and out[COUNTS][TARGETS_24H] == 0
    # the crowd set counts over a day, and clamps on its own newest time
    await one(store, Mark("a:1", "like:e", "crowd"), T0 + 100)
    await one(store, Mark("a:1", "like:f", "crowd"), T0 + 50)
    out = await one(store, act(), T0 + 60 + DAY)  # like:f was stored at T0+100
    assert out[COUNTS][CROWDS_24H] == 2 and out[COUNTS][BURSTS_1H] == 0
    out = await one(store, act(), T0 + 100 + DAY)
    assert out[COUNTS][CROWDS_24H] == 0


async def test_a_mark_into_another_kind_is_refused_and_changes_nothing(store):
    await one(store, act(target="like:a"), T0)
    for kind in ("target", "ip", "", "Crowd"):
        with pytest.raises(ValueError, match="Mark into"):
            await store.exchange([Mark("a:1", "like:b", kind)], T0 + 1)
    out = await one(store, act(), T0 + 2)
    assert out[COUNTS][TARGETS_1H] == 1 and out[COUNTS][IPS_24H] == 0 and out[TIMES] == [T0]


async def test_an_account_op_needs_one_member_per_kind(store):
    for members in ((), ("ip",), ("",) * (len(ACCOUNT_KINDS) + 1)):
        with pytest.raises(ValueError, match="one per ACCOUNT_KINDS item"):
            await store.exchange([Account("a:1", members, "L")], T0)


async def test_peers_are_replaced_and_answered_by_the_next_account_op(store):
    assert (await one(store, act(key="a:p"), T0))[PEERS] == []
    assert await one(store, Peers("a:p", ("s:1", "s:2")), T0 + 1) is None
    out = await one(store, act(key="a:p"), T0 + 2)
    assert out[PEERS] == ["s:1", "s:2"] and out[HOUR_N] == 2 and out[TIMES] == [T0]
    assert (await one(store, act(key="a:p"), T0 + 3))[PEERS] == ["s:1", "s:2"]  # kept until replaced
    await run(store, [Peers("a:p", ("s:3",)), Peers("a:p", ("s:4", "s:3"))], T0 + 4)
    assert (await one(store, act(key="a:p"), T0 + 5))[PEERS] == ["s:4", "s:3"]
    await one(store, Peers("a:p", ()), T0 + 6)
    assert (await one(store, act(key="a:p"), T0 + 7))[PEERS] == []
    # only the last PEERS_MAX are kept, in the order given; members verbatim
    given = tuple(f"s:{i}" for i in range(PEERS_MAX + 7)) + ODD
    await one(store, Peers("a:p", given), T0 + 8)
    assert (await one(store, act(key="a:p"), T0 + 9))[PEERS] == list(given[-PEERS_MAX:])
    await one(store, Peers("a:p", ODD), T0 + 10)
    assert (await one(store, act(key="a:p"), T0 + 11))[PEERS] == list(ODD)


async def test_peers_on_an_absent_account_and_their_life(store):
    # Peers creates the account: no action of its own, its peers for the first Account op
    await one(store, Peers("a:n", ("s:1",)), T0)
    out = await one(store, act(key="a:n", loc="L1"), T0 + 1)
    assert out[PEERS] == ["s:1"] and out[TIMES] == [] and out[HOUR_N] == 1 and out[LOC] is None
    # a Peers op keeps the account alive; times and location go after RECENT_TTL without an Account op, peers stay
    await one(store, Peers("a:n", ("s:2",)), T0 + RECENT_TTL - 1)
    out = await one(store, act(key="a:n"), T0 + RECENT_TTL + 2)
    assert out[PEERS] == ["s:2"] and out[TIMES] == [] and out[LOC] is None
    # idle a full RECENT_TTL: a fresh account, without peers
    assert (await one(store, act(key="a:n"), T0 + 2 * RECENT_TTL + 2))[PEERS] == []
    # Peers on a key holding another kind replaces it
    await one(store, Shared("ip:p", "a", "s"), T0)
    await one(store, Peers("ip:p", ("s:9",)), T0 + 1)
    assert (await one(store, act(key="ip:p"), T0 + 2))[PEERS] == ["s:9"]
    assert await one(store, Shared("ip:p", "b", "s"), T0 + 3) == (1, 1, 1, 1, None)


# -- sticky decisions ------------------------------------------------------------------


async def test_stick_on_absent_entities_and_until(store):
    until = T0 + 30.5
    await run(store, [Stick("s:k", "block|r1|x", until), Stick("a:k", "challenge|r2|x", until),
                      Stick("dev:k", "throttle|r3|x", until)], T0)
    session, account, shared = await run(store, [Session("s:k", "b", "L"), act(key="a:k"),
                                                 Shared("dev:k", "a", "s")], T0 + 30)
    assert session == (None, [], None, "block|r1|x", 0, 0)
    assert account[STICKY] == "challenge|r2|x" and account[HOUR_N] == 1
    assert shared == (1, 1, 1, 1, "throttle|r3|x")
    session, account, shared = await run(store, [Session("s:k", "b", "L"), act(key="a:k"),
                                                 Shared("dev:k", "a", "s")], until)
    assert session[3] is None and account[STICKY] is None and shared[4] is None


async def test_stick_replaces_and_keeps_the_entity_alive(store):
    await one(store, Shared("ip:k", "a", "s"), T0)
    await one(store, Stick("ip:k", "block|r1|x", T0 + 3 * DAY), T0 + 1)
    await one(store, Stick("ip:k", "log|r2|x", T0 + 2 * DAY), T0 + 2)  # replaces, whatever its until
    out = await one(store, Shared("ip:k", "a", "s"), T0 + 2 * DAY - 1)  # alive past RECENT_TTL
    assert out == (1, 1, 1, 1, "log|r2|x")
    # a Stick already past: created empty, it is absent at once
    await one(store, Stick("s:gone", "block|r|x", T0), T0 + 5)
    assert await one(store, Session("s:gone", "b", "L"), T0 + 5) == (None, [], None, None, 0, 0)


async def test_a_key_holding_another_kind_is_replaced(store):
    await run(store, [Stick("ip:m", "block|r|x", T0 + 100), Shared("ip:m", "a", "s")], T0)
    assert await one(store, Target("ip:m", "r1"), T0 + 1) == []  # the shared record is absent
    out = await one(store, Shared("ip:m", "b", "s"), T0 + 2)  # ... and the target record is
    assert out == (1, 1, 1, 1, None)  # the sticky decision went with the replaced record
    await one(store, Session("ip:m", "b", "L"), T0 + 3)
    assert (await one(store, act(key="ip:m"), T0 + 4))[TIMES] == []
    assert await one(store, Session("ip:m", "b", "L"), T0 + 5) == (None, [], None, None, 0, 0)


async def test_ops_run_in_order_within_a_batch(store):
    ops = [
        Session("s:o", "first", "L1"), Birth("s:o", "token"), Session("s:o", "x", "L2"),
        Stick("s:o", "block|r|x", T0 + 9), Session("s:o", "x", "L3"),
        Target("t:o", "r1"), Target("t:o", "r2"),
        Shared("ip:o", "a", "s"), Shared("ip:o", "b", "s"),
        Mark("a:o", "like:o"), act(key="a:o", target="like:o"),
    ]
    out = await run(store, ops, T0)
    assert out[:5] == [(None, [], None, None, 0, 0), None, ("first", [T0], "L1", None, 0, 0), None,
                       ("first", [T0, T0], "L2", "block|r|x", 0, 0)]
    assert out[5:9] == [[], ["r1"], (1, 1, 1, 1, None), (2, 2, 2, 1, None)]
    assert out[10][COUNTS][TARGETS_1H:] == [1, 1, 1, 0]


# -- Redis against the memory backend, on random traffic ----------------------------------------


KIND = {Birth: "session", Session: "session", Shared: "shared", Account: "account", Mark: "account",
        Peers: "account", Target: "target", Crowd: "crowd"}


def kind_of(op) -> str:
    if type(op) is Stick:
        return {"s:": "session", "a:": "account"}.get(op.key[:2], "shared")
    return KIND[type(op)]


class Lives:
    """Each key's record kind and expiry, by the contract's life rules, to steer clear of the unspecified.

    A record whose expiry has passed may be dropped at any time; after the clock
    went back it may be seen again or not. An op on such a record is left out.
    """

    def __init__(self) -> None:
        self.records: dict[str, tuple[str, float]] = {}
        self.latest = -math.inf

    def admit(self, op, now: float) -> bool:
        kind = kind_of(op)
        held, expiry = self.records.get(op.key, ("", 0.0))
        if held == kind and now < expiry <= self.latest:
            return False  # perhaps dropped, perhaps not
        if held != kind or expiry <= now:
            expiry = 0.0
        if type(op) is Target:
            expiry = now + TARGET_TTL
        elif type(op) is Crowd:
            expiry = max(expiry, now + CROWD_WINDOW)
        elif type(op) is Stick:
            expiry = max(expiry, op.until)
        else:
            ttl = SESSION_TTL if kind == "session" else RECENT_TTL
            expiry = max(expiry, now + ttl)
        self.records[op.key] = (kind, expiry)
        return True


KEYS = ("s:1", "s:2", "a:1", "a:2", "ip:1", "pfx:1", "t:1", "t:2", "c:1", "c:2")


def random_batch(rng: random.Random, now: float, lives: Lives, keys: tuple[str, ...] = KEYS) -> list:
    batch = []
    for _ in range(rng.randint(1, 8)):
        key = rng.choice(keys)
        # "c:1..." keys hold crowds only (they reach the cap), other "c:" keys mostly
        crowd = key.startswith("c:1") or (key.startswith("c:") and rng.random() < 0.8)
        roll = 6 if crowd else rng.randrange(10)
        word = rng.choice(["x", "y", "z", "w", "v", ""])
        if roll == 0:
            op = Birth(key, word)
        elif roll == 1:
            op = Session(key, word, f"loc{rng.randrange(3)}", rng.choice(["p1", "p2", "p3"]), rng.choice(["d1", "d2", ""]),
                         rng.random() < 0.7)
        elif roll == 2:
            op = Shared(key, word, rng.choice(["s1", "s2", "s3"]))
        elif roll == 3:
            op = Account(key, tuple(rng.choice(["", "m1", "m2", f"m{rng.randrange(90)}"]) for _ in ACCOUNT_KINDS),
                         word)
        elif roll == 4:
            op = Target(key, word)
        elif roll == 5:
            target = f"like:{rng.randrange(80)}"
            op = Mark(key, target) if rng.random() < 0.3 else Mark(key, target, rng.choice(["burst", "crowd"]))
        elif roll == 6:
            op = Crowd(key, rng.choice(ODD) if rng.random() < 0.1 else f"s{rng.randrange(300)}")
        elif roll == 7:
            n = rng.choice([0, 1, 2, 5, PEERS_MAX + 3])
            op = Peers(key, tuple(rng.choice(ODD) if rng.random() < 0.1 else f"s{rng.randrange(200)}"
                                  for _ in range(n)))
        elif not key.startswith(("t:", "c:")):
            op = Stick(key, f"block|r{rng.randrange(5)}|x", now + rng.choice([-1.0, 0.0, 30.0, 2 * DAY]))
        else:
            continue
        if lives.admit(op, now):
            batch.append(op)
    lives.latest = max(lives.latest, now)
    return batch


async def test_random_traffic_matches_the_memory_backend(redis_only):
    """Random ops on few keys, clocks jumping forward and back: Redis answers as memory does."""
    rng = random.Random(7)
    reference = MemoryStore()
    lives = Lives()
    now = T0
    for step in range(1500):
        now += rng.choice([0.0, 0.25, 3.0, 61.0, 599.5, 1800.0, 3600.0, -40.0, -700.0, 0.1 + 1 / 7])
        if step % 300 == 299:
            now += DAY  # everything idle past RECENT_TTL
        elif step % 300 == 149:
            now += DAY - 2000.0  # the day windows (crowds) keep only the last half hour or so
        batch = random_batch(rng, now, lives)
        expected = (await reference.exchange(batch, now)).values
        assert await run(redis_only, batch, now) == expected, f"step {step}: {batch}"


async def test_session_moves_between_fixed_lines(store):
    def use(place, lane="dev-1", fixed=True):
        return Session("s:mv", "b", "L", place, lane, fixed)

    assert (await one(store, use("p1"), T0))[4] == 0
    assert (await one(store, use("p2"), T0 + 60))[4] == 1  # another home line a minute later: a move
    assert (await one(store, use("p2"), T0 + 120))[4] == 1  # same line: not a move
    assert (await one(store, use("p3", lane="dev-2"), T0 + 180))[4] == 1  # another device: not this lane's move
    assert (await one(store, use("p4", lane="dev-2"), T0 + 240))[4] == 2
    assert (await one(store, use("p5", lane="dev-2", fixed=False), T0 + 300))[4] == 2  # onto mobile: not fixed
    assert (await one(store, use("p6", lane="dev-2"), T0 + 360))[4] == 2  # from mobile: not fixed before
    assert (await one(store, use("p7", lane="dev-2"), T0 + 360 + MOVE_GAP))[4] == 2  # too long after
    assert (await one(store, use("p8", lane="dev-2"), T0 + 360 + MOVE_GAP + 1))[4] == 3
    assert (await one(store, use("p8", lane="dev-2"), T0 + 60 + DAY))[4] == 2  # the first move is a day old
    t = T0 + 2 * DAY
    for i in range(MOVES_MAX + 3):
        out = await one(store, use(f"q{i}", lane="dev-2"), t + i)
    assert out[4] == MOVES_MAX  # saturates, the newest kept


async def test_session_switches_between_devices(store):
    def use(lane, place="p1"):
        return Session("s:sw", "b", "L", place, lane, False)

    assert [(await one(store, use(lane), T0 + 60 * i))[5] for i, lane in enumerate(
        ["dev-1", "dev-1", "dev-2", "", "dev-2", "dev-1", ""])] == [0, 0, 1, 1, 1, 2, 2]  # "" neither switches nor counts
    assert (await one(store, use("dev-2"), T0 + 400))[5] == 2  # after "" (no device): not a switch
    assert (await one(store, use("dev-1"), T0 + 120 + DAY))[5] == 2  # the first switch is a day old
    t = T0 + 2 * DAY
    for i in range(MOVES_MAX + 3):
        out = await one(store, use(f"dev-{i % 2}"), t + i)
    assert out[5] == MOVES_MAX  # saturates, the newest kept
    assert out[4] == 0  # not fixed lines: no moves


async def test_a_stick_on_a_target_is_refused(store):
    with pytest.raises(ValueError, match="never a target"):
        await store.exchange([Stick("t:like:m1", "block|r|x", T0 + 5)], T0)
