"""Both state-store backends give identical results for identical op sequences.

Every test drives a store on an injected clock and checks exact values; the
``store`` fixture runs each test against the memory backend and against the
real Redis on 127.0.0.1:6379 (under a unique key prefix, removed afterwards).
"""

from __future__ import annotations

import random
import uuid

import pytest

from gateway.signals.memory import MemoryStore
from gateway.signals.store import Append, Distinct, Get, Incr, Put, PutIfAbsent

T0 = 1_700_000_000.0
REDIS_URL = "redis://127.0.0.1:6379/0"


async def open_redis_store():
    """A RedisStore on the local server under a fresh prefix, or skip."""
    redis_store = pytest.importorskip("gateway.signals.redis_store")
    import redis.asyncio as aioredis

    from gateway.settings import State

    probe = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await probe.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no server to test against
        pytest.skip(f"no Redis answering at {REDIS_URL} ({error}); start redis-server to run these")
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    # a generous timeout: these tests check semantics, not the outage path
    state = State(backend="redis", url=REDIS_URL, prefix=prefix, timeout_ms=2000.0)
    return redis_store.RedisStore(state), probe, prefix


async def drop_prefix(probe, prefix: str) -> None:
    keys = [key async for key in probe.scan_iter(match=f"{prefix}:*", count=500)]
    if keys:
        await probe.delete(*keys)
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


async def test_distinct_counts_per_window(store):
    key = "ip:203.0.113.7#accounts"
    windows = (60.0, 3600.0)
    seen = []
    for offset, account in [(0, "a"), (10, "b"), (20, "a"), (100, "c"), (4000, "d")]:
        ts = T0 + offset
        [counts] = await run(store, [Distinct(key, account, ts, windows, ttl=86400)], ts)
        seen.append(counts)
    assert seen == [(1, 1), (2, 2), (2, 2), (1, 3), (1, 1)]


async def test_distinct_window_edges_are_open_below_closed_above(store):
    key = "dev:x#ips"
    await run(store, [Distinct(key, "m1", T0, (60.0,), ttl=3600)], T0)
    # exactly one window later the first member falls out: (ts - 60, ts]
    [counts] = await run(store, [Distinct(key, "m2", T0 + 60, (60.0, 60.5), ttl=3600)], T0 + 60)
    assert counts == (1, 2)
    # a member with a ts above the op's ts is not counted
    await run(store, [Distinct(key, "late", T0 + 500, (600.0,), ttl=3600)], T0 + 500)
    [counts] = await run(store, [Distinct(key, "m3", T0 + 400, (600.0,), ttl=3600)], T0 + 500)
    assert counts == (3,)


async def test_distinct_keeps_newest_ts_of_a_member(store):
    key = "acct:1#ips"
    await run(store, [Distinct(key, "x", T0 + 100, (50.0,), ttl=3600)], T0 + 100)
    # seen again at an older ts: keeps T0+100, so it still counts at T0+120
    await run(store, [Distinct(key, "x", T0 + 10, (50.0,), ttl=3600)], T0 + 100)
    [counts] = await run(store, [Distinct(key, "y", T0 + 120, (50.0,), ttl=3600)], T0 + 120)
    assert counts == (2,)


async def test_distinct_cap_drops_oldest_seen(store):
    key = "ip:198.51.100.1#sessions"
    for i in range(5):
        await run(store, [Distinct(key, f"s{i}", T0 + i, (3600.0,), ttl=3600, cap=3)], T0 + i)
    # only s2, s3, s4 are kept: re-seeing s0 is a new member, then s2 drops
    [counts] = await run(store, [Distinct(key, "s0", T0 + 10, (3600.0,), ttl=3600, cap=3)], T0 + 10)
    assert counts == (3,)
    [counts] = await run(store, [Distinct(key, "s3", T0 + 11, (6.5, 8.5), ttl=3600, cap=3)], T0 + 11)
    assert counts == (2, 3)  # s0 at T0+10, s3 at T0+11; s4 at T0+4 only in the 8.5 s window


async def test_distinct_ties_rank_by_member(store):
    key = "ip:tie#accounts"
    ops = [Distinct(key, m, T0, (10.0,), ttl=60, cap=2) for m in ["b", "c", "a"]]
    assert await run(store, ops, T0) == [(1,), (2,), (2,)]
    # "a" ranked lowest at equal ts and was dropped; b and c stay
    [counts] = await run(store, [Distinct(key, "a", T0, (10.0,), ttl=60, cap=3)], T0)
    assert counts == (3,)
    [counts] = await run(store, [Distinct(key, "b", T0, (10.0,), ttl=60, cap=3)], T0)
    assert counts == (3,)


async def test_distinct_key_expires_ttl_after_newest_member(store):
    key = "asn:64500#accounts"
    await run(store, [Distinct(key, "a", T0, (1e6,), ttl=100)], T0)
    await run(store, [Distinct(key, "b", T0 + 50, (1e6,), ttl=100)], T0 + 50)
    [counts] = await run(store, [Distinct(key, "c", T0 + 149, (1e6,), ttl=100)], T0 + 149)
    assert counts == (3,)  # alive: newest was T0+50, 50+100 > 149
    [counts] = await run(store, [Distinct(key, "d", T0 + 249, (1e6,), ttl=100)], T0 + 249)
    assert counts == (1,)  # expired at T0+249 (newest T0+149 + 100)


async def test_append_returns_previous_newest_first_and_trims(store):
    key = "sess:abc#gaps"
    results = []
    for i in range(6):
        [previous] = await run(store, [Append(key, float(i) + 0.25, ttl=600, maxlen=4)], T0 + i)
        results.append(previous)
    assert results[0] == []
    assert results[1] == [0.25]
    assert results[5] == [4.25, 3.25, 2.25, 1.25]
    assert all(type(v) is float for v in results[5])


async def test_append_keeps_str_and_float_apart(store):
    key = "acct:7#targets"
    await run(store, [Append(key, 1.5, ttl=600), Append(key, "post:9", ttl=600)], T0)
    [previous] = await run(store, [Append(key, 2, ttl=600)], T0 + 1)
    assert previous == ["post:9", 1.5]
    [previous] = await run(store, [Append(key, "x", ttl=600, maxlen=2)], T0 + 2)
    assert previous == [2.0, "post:9"]
    assert type(previous[0]) is float


async def test_append_floats_round_trip_exactly(store):
    key = "sess:f#ts"
    values = [0.1, 1 / 3, 1e-300, 1.7976931348623157e308, -0.0, T0 + 0.123456789]
    for v in values:
        await run(store, [Append(key, v, ttl=600, maxlen=32)], T0)
    [previous] = await run(store, [Append(key, 0.0, ttl=600, maxlen=32)], T0)
    assert previous == values[::-1]


async def test_append_expires_ttl_after_last_append(store):
    key = "sess:e#gaps"
    await run(store, [Append(key, 1.0, ttl=10)], T0)
    [previous] = await run(store, [Append(key, 2.0, ttl=10)], T0 + 9.5)
    assert previous == [1.0]
    [previous] = await run(store, [Append(key, 3.0, ttl=10)], T0 + 19.25)
    assert previous == [2.0, 1.0]
    [previous] = await run(store, [Append(key, 4.0, ttl=10)], T0 + 29.25)
    assert previous == []  # expired at exactly T0 + 29.25


async def test_get_put_expiry_on_given_clock(store):
    key = "sess:abc#birth"
    assert await run(store, [Get(key), Put(key, "born|ios", ttl=30), Get(key)], T0) == [
        None, None, "born|ios",
    ]
    assert await run(store, [Get(key)], T0 + 29.5) == ["born|ios"]
    assert await run(store, [Get(key)], T0 + 30) == [None]
    # a far-future clock, not wall time, decides
    await run(store, [Put(key, "v2", ttl=1)], T0 + 10_000)
    assert await run(store, [Get(key)], T0 + 10_000.5) == ["v2"]


async def test_put_overwrites_and_refreshes(store):
    key = "acct:1#sticky"
    await run(store, [Put(key, "block", ttl=10)], T0)
    await run(store, [Put(key, "challenge", ttl=10)], T0 + 5)
    assert await run(store, [Get(key)], T0 + 14) == ["challenge"]


async def test_put_if_absent(store):
    key = "sess:z#birth"
    assert await run(store, [PutIfAbsent(key, "first", ttl=100)], T0) == [None]
    assert await run(store, [PutIfAbsent(key, "second", ttl=100)], T0 + 1) == ["first"]
    assert await run(store, [Get(key)], T0 + 99) == ["first"]  # not refreshed by the loser
    assert await run(store, [PutIfAbsent(key, "third", ttl=100)], T0 + 100) == [None]
    assert await run(store, [Get(key)], T0 + 150) == ["third"]


async def test_incr_expiry_set_on_creation_only(store):
    key = "acct:1#likes_minute"
    assert await run(store, [Incr(key, 1, ttl=60), Incr(key, 2, ttl=60)], T0) == [1, 3]
    assert await run(store, [Incr(key, 1, ttl=60)], T0 + 59) == [4]
    assert await run(store, [Get(key)], T0 + 59.5) == ["4"]
    assert await run(store, [Incr(key, 5, ttl=60)], T0 + 60) == [5]
    assert await run(store, [Incr(key, -7, ttl=60)], T0 + 61) == [-2]


async def test_incr_on_strings(store):
    await run(store, [Put("k:1#n", "41", ttl=100), Put("k:2#n", "4x", ttl=100)], T0)
    assert await run(store, [Incr("k:1#n", 1, ttl=5), Incr("k:2#n", 1, ttl=5)], T0 + 1) == [42, 1]
    # the counter kept the str's expiry (T0 + 100), not the Incr's ttl
    assert await run(store, [Get("k:1#n"), Get("k:2#n")], T0 + 99) == ["42", "1"]
    assert await run(store, [PutIfAbsent("k:1#n", "z", ttl=5)], T0 + 99) == ["42"]


async def test_ops_run_in_order_within_a_batch(store):
    key = "t:post1#likes"
    ops = [
        Get("sess:q#last"),
        Put("sess:q#last", "a", ttl=60),
        Get("sess:q#last"),
        PutIfAbsent("sess:q#last", "b", ttl=60),
        Append(key, 1.0, ttl=60),
        Append(key, 2.0, ttl=60),
        Distinct("t:post1#accounts", "u1", T0, (60.0,), ttl=60),
        Distinct("t:post1#accounts", "u2", T0, (60.0,), ttl=60),
        Incr("t:post1#n", 1, ttl=60),
        Incr("t:post1#n", 1, ttl=60),
    ]
    assert await run(store, ops, T0) == [None, None, "a", "a", [], [1.0], (1,), (2,), 1, 2]


async def test_one_kind_per_key(store):
    key = "mixed:1#k"
    await run(store, [Put(key, "s", ttl=60)], T0)
    assert await run(store, [Append(key, 1.0, ttl=60)], T0) == [[]]
    assert await run(store, [Get(key)], T0) == [None]
    assert await run(store, [Distinct(key, "m", T0, (10.0,), ttl=60)], T0) == [(1,)]
    assert await run(store, [Append(key, 2.0, ttl=60)], T0) == [[]]
    assert await run(store, [Incr(key, 3, ttl=60)], T0) == [3]
    assert await run(store, [Distinct(key, "m", T0, (10.0,), ttl=60)], T0) == [(1,)]
    assert await run(store, [PutIfAbsent(key, "p", ttl=60)], T0) == [None]


async def test_zero_cap_and_maxlen_keep_nothing(store):
    assert await run(store, [Distinct("z:1#d", "a", T0, (9.0,), ttl=60, cap=0)] * 2, T0) == [(0,), (0,)]
    assert await run(store, [Append("z:1#l", 1.0, ttl=60, maxlen=0)] * 2, T0) == [[], []]


async def test_empty_batch(store):
    result = await store.exchange([], T0)
    assert result.values == [] and result.degraded is False


async def test_random_sequences_match_memory_reference(redis_only):
    """A long random op sequence gives Redis the same results as the memory store."""
    store = redis_only
    rng = random.Random(7)
    reference = MemoryStore()
    keys = [f"e:{i}#f" for i in range(6)]
    now = T0
    for _ in range(60):
        now += rng.choice([0.0, 0.5, 3.0, 40.0])
        batch = []
        for _ in range(rng.randint(1, 6)):
            key = rng.choice(keys)
            kind = rng.randrange(6)
            ttl = rng.choice([5.0, 30.0, 100.0])
            if kind == 0:
                ts = now - rng.choice([0.0, 1.0, 20.0])
                batch.append(Distinct(key, rng.choice("abcdefg"), ts, (2.0, 30.0), ttl=ttl, cap=4))
            elif kind == 1:
                value = rng.choice([rng.random(), rng.choice(["u", "v"])])
                batch.append(Append(key, value, ttl=ttl, maxlen=3))
            elif kind == 2:
                batch.append(Get(key))
            elif kind == 3:
                batch.append(Put(key, rng.choice(["1", "p", "-3"]), ttl=ttl))
            elif kind == 4:
                batch.append(PutIfAbsent(key, rng.choice(["q", "7"]), ttl=ttl))
            else:
                batch.append(Incr(key, rng.randint(-2, 3), ttl=ttl))
        expected = (await reference.exchange(batch, now)).values
        assert await run(store, batch, now) == expected
