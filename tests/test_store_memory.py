"""The memory backend stays bounded under floods of client-chosen keys."""

from __future__ import annotations

import gc
import random
import tracemalloc

from gateway.signals.memory import MemoryStore
from gateway.signals.store import Append, Distinct, Get, Incr, Put, PutIfAbsent

T0 = 1_700_000_000.0
INTERN_TABLE_BLOCK = 512 * 1024  # larger single blocks are the interpreter's, not the store's


def flood(store: MemoryStore, requests: int, seed: int, now: float = T0) -> None:
    """Requests whose every key is random, as an attacker rotating IPs/devices would send."""
    rng = random.Random(seed)
    for i in range(requests):
        ip = f"ip:{rng.getrandbits(32)}"
        dev = f"dev:{rng.getrandbits(64):x}"
        sess = f"sess:{rng.getrandbits(64):x}"
        ts = now + i * 0.001
        ops = [
            Distinct(f"{ip}#accounts", f"acct:{rng.getrandbits(40)}", ts, (60.0, 3600.0), ttl=86400),
            Distinct(f"{dev}#accounts", f"acct:{rng.getrandbits(40)}", ts, (86400.0,), ttl=86400),
            Append(f"{sess}#gaps", rng.random(), ttl=3600),
            PutIfAbsent(f"{sess}#birth", "x" * 40, ttl=86400),
            Incr(f"{ip}#minute", 1, ttl=60),
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

    at_bound = traced_size(lambda: run(400))  # 2_000 keys written: already at the bound
    ten_times = traced_size(lambda: run(4_000))
    # ten times the keys, same bound: memory must not grow with the flood (an
    # unbounded table would be ~10x; dict table sizes alone swing it by ~1.4x)
    assert ten_times < at_bound * 2, (at_bound, ten_times)


def test_least_recently_used_key_is_evicted_first():
    store = MemoryStore(max_keys=3)
    put = [Put(f"k:{i}#v", str(i), ttl=100) for i in range(3)]
    store.exchange_sync(put, T0)
    store.exchange_sync([Get("k:0#v")], T0)  # k:0 is now the most recent
    store.exchange_sync([Put("k:3#v", "3", ttl=100)], T0)
    values = store.exchange_sync([Get(f"k:{i}#v") for i in range(4)], T0).values
    assert values == ["0", None, "2", "3"]
    assert len(store) == 3


def test_distinct_members_bounded_by_cap_under_flood():
    store = MemoryStore()
    for i in range(5_000):
        [counts] = store.exchange_sync(
            [Distinct("ip:cgnat#accounts", f"a{i}", T0 + i, (1e9,), ttl=1e9, cap=100)], T0 + i
        ).values
        assert counts == (min(i + 1, 100),)
    assert len(store._data["ip:cgnat#accounts"].scores) == 100


def test_append_bounded_by_maxlen():
    store = MemoryStore()
    for i in range(1_000):
        store.exchange_sync([Append("sess:s#gaps", float(i), ttl=60, maxlen=32)], T0)
    [previous] = store.exchange_sync([Append("sess:s#gaps", 0.0, ttl=60, maxlen=32)], T0).values
    assert previous == [float(i) for i in range(999, 967, -1)]


def test_expired_keys_are_swept_without_being_touched():
    store = MemoryStore()
    store.exchange_sync([Put(f"k:{i}#v", "x", ttl=10) for i in range(20)], T0)
    store.exchange_sync([Put("keep:1#v", "y", ttl=1e6)], T0)
    for i in range(200):  # unrelated traffic after the 20 keys expired
        store.exchange_sync([Get("other:1#v")], T0 + 100 + i)
    assert len(store) == 1
    assert store.exchange_sync([Get("keep:1#v")], T0 + 400).values == ["y"]


def test_rejects_a_non_positive_bound():
    try:
        MemoryStore(max_keys=0)
    except ValueError as error:
        assert "state.max_keys" in str(error)
    else:
        raise AssertionError("max_keys=0 was accepted")
