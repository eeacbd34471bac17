"""The memory backend stays bounded under floods of client-chosen keys and members."""

from __future__ import annotations

import gc
import random
import tracemalloc

from gateway.state.memory import MemoryStore
from gateway.state.store import (
    ACCOUNT_CAP,
    ACCOUNT_KINDS,
    CROWD_CAP,
    PEERS_MAX,
    SHARED_CAP,
    TARGET_MAX,
    TARGET_TTL,
    TIMES_MAX,
    Account,
    AccountSeen,
    Birth,
    Crowd,
    Mark,
    Peers,
    Session,
    SessionSeen,
    Shared,
    SharedSeen,
    Target,
)

T0 = 1_700_000_000.0
INTERN_TABLE_BLOCK = 512 * 1024  # larger single blocks are the interpreter's, not the store's


def flood(store: MemoryStore, requests: int, seed: int, now: float = T0) -> None:
    """Requests whose every key is random, as an attacker rotating IPs, devices and sessions would send."""
    rng = random.Random(seed)
    for i in range(requests):
        session = f"s:{rng.getrandbits(64):x}"
        account = f"a:{rng.getrandbits(40)}"
        ts = now + i * 0.001
        ops = [
            Birth(session, "x" * 40),
            Session(session, "", f"{ts:.3f}|52.3|4.9|mobile"),
            Shared(f"ip:{rng.getrandbits(32)}", account, session),
            Shared(f"dev:{rng.getrandbits(64):x}", account, session),
            Account(account, tuple(f"{kind}{rng.getrandbits(20)}" for kind in ACCOUNT_KINDS), "loc"),
            Target(f"t:like:{rng.getrandbits(32)}", "record"),
            Crowd(f"c:like:{rng.getrandbits(32)}", session),
        ]
        store.exchange_sync(ops, ts)
        assert len(store) <= store.max_keys


def traced_size(build) -> int:
    tracemalloc.start()
    try:
        kept = build()
        gc.collect()  # count what the store keeps, not garbage awaiting the cyclic collector
        # Interning a member can rebuild the interpreter's table of interned
        # strings (a block of megabytes whose timing depends on everything
        # imported and interned before): that block is not the store's.
        size = sum(t.size for t in tracemalloc.take_snapshot().traces if t.size < INTERN_TABLE_BLOCK)
    finally:
        tracemalloc.stop()
    del kept
    return size


def test_flood_never_exceeds_max_keys_and_memory_plateaus():
    def run(requests: int):
        store = MemoryStore(max_keys=1_000)
        flood(store, requests, seed=requests)
        return store

    at_bound = traced_size(lambda: run(400))  # 2_400 entities written: already at the bound
    ten_times = traced_size(lambda: run(4_000))
    # ten times the entities, same bound: memory must not grow with the flood (an
    # unbounded table would be ~10x; dict table sizes alone swing it by ~1.4x)
    assert ten_times < at_bound * 2, (at_bound, ten_times)


def test_least_recently_used_entity_is_evicted_first():
    store = MemoryStore(max_keys=3)
    store.exchange_sync([Birth(f"s:{i}", f"b{i}") for i in range(3)], T0)
    store.exchange_sync([Birth("s:0", "again")], T0)  # s:0 is now the most recently used
    store.exchange_sync([Birth("s:3", "b3")], T0)
    births = [v[0] for v in store.exchange_sync([Session(f"s:{i}", "", "L") for i in (0, 2, 3)], T0).values]
    assert births == ["b0", "b2", "b3"]
    assert store.exchange_sync([Session("s:1", "", "L")], T0).values[0][0] is None  # s:1 was evicted
    assert len(store) == 3


def entity_size(ops_for, n: int) -> int:
    """Traced bytes of a store after ``n`` ops on one entity (distinct members each time)."""
    def build():
        store = MemoryStore()
        for i in range(n):
            store.exchange_sync(ops_for(i), T0 + i * 0.01)
        return store

    return traced_size(build)


def test_one_entity_is_bounded_by_its_caps_under_a_flood_of_members():
    shared = [entity_size(lambda i: [Shared("ip:cgnat", f"a{i}", f"s{i}")], n) for n in (400, 4_000)]
    assert shared[1] < shared[0] * 1.5, shared
    account = [entity_size(lambda i: [Account("a:1", tuple(f"{k}{i}" for k in ACCOUNT_KINDS), "loc"),
                                      Mark("a:1", f"like:{i}"), Mark("a:1", f"like:{i}", "crowd"),
                                      Peers("a:1", tuple(f"s:{i}-{j}" for j in range(PEERS_MAX + 5)))], n)
               for n in (100, 400)]
    assert account[1] < account[0] * 1.5, account
    crowd = [entity_size(lambda i: [Crowd("c:like:1", f"s:{i}")], n) for n in (400, 4_000)]
    assert crowd[1] < crowd[0] * 1.5, crowd
    store = MemoryStore()
    for i in range(150):
        counts = store.exchange_sync([Shared("ip:cgnat", f"a{i}", "s")], T0 + i).values[0]
        assert counts[2] == min(i + 1, SHARED_CAP)
        out = store.exchange_sync([Account("a:2", tuple(f"{k}{i}" for k in ACCOUNT_KINDS), "l")], T0 + i).values[0]
        assert out[0][0] == min(i + 1, ACCOUNT_CAP)  # ips over the day
        seen = store.exchange_sync([Crowd("c:like:1", f"s:{i}")], T0 + i).values[0]
        assert seen == ([f"s:{j}" for j in range(i)] if i < CROWD_CAP else None)


def test_lists_bounded_by_their_maxima():
    store = MemoryStore()
    for i in range(1_000):
        store.exchange_sync([Session("s:s", "", "L"), Target("t:t", f"r{i}")], T0 + i * 0.01)
    session, target = store.exchange_sync([Session("s:s", "", "L"), Target("t:t", "last")], T0 + 11).values
    assert session[1] == [T0 + i * 0.01 for i in range(999, 999 - TIMES_MAX, -1)]
    assert target == [f"r{i}" for i in range(999, 999 - TARGET_MAX, -1)]


def test_expired_entities_are_swept_without_being_touched():
    store = MemoryStore()
    store.exchange_sync([Target(f"t:{i}", "r") for i in range(20)], T0)
    store.exchange_sync([Birth("s:keep", "y")], T0)
    for i in range(200):  # unrelated traffic after the 20 targets expired
        store.exchange_sync([Shared("ip:other", "a", "s")], T0 + TARGET_TTL + i)
    assert len(store) == 2
    assert store.exchange_sync([Session("s:keep", "", "L")], T0 + 400).values[0][0] == "y"


def test_rejects_a_non_positive_bound():
    try:
        MemoryStore(max_keys=0)
    except ValueError as error:
        assert "state.max_keys" in str(error)
    else:
        raise AssertionError("max_keys=0 was accepted")


def test_answers_are_the_typed_records():
    store = MemoryStore()
    for now in (T0, T0 + 1):  # a fresh record, then a kept one
        session, shared, account = store.exchange_sync([
            Session("s:1", "b", "L"), Shared("ip:1", "a", "s"), Account("a:1", ("i",) * len(ACCOUNT_KINDS), "L"),
        ], now).values
        assert type(session) is SessionSeen and type(shared) is SharedSeen and type(account) is AccountSeen
        assert type(session.times) is list and type(account.counts) is list and type(account.peers) is list
