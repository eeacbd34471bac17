"""The memory backend: bounded under floods of client-chosen keys and members, invisible to the cyclic
garbage collector, and answering as a plain model of the contract on realistic traffic (its fast paths, its
big sets and its hot targets' lists included)."""

from __future__ import annotations

import gc
import math
import random
import tracemalloc

import pytest
from test_store_conformance import Lives

from gateway.state import memory
from gateway.state.memory import MemoryStore
from gateway.state.store import (
    ACCOUNT_CAP,
    ACCOUNT_KINDS,
    ACCOUNT_WINDOWS,
    CROWD_CAP,
    CROWD_WINDOW,
    DAY,
    HOUR,
    HOURS,
    MARK_KINDS,
    MOVE_GAP,
    MOVES_MAX,
    PEERS_MAX,
    RECENT_TTL,
    SESSION_TTL,
    SHARED_ACCOUNT_WINDOWS,
    SHARED_CAP,
    SHARED_SESSION_WINDOW,
    SLOT_S,
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


def realistic_traffic(rng: random.Random, store: MemoryStore, requests: int, now: float) -> float:
    """The collector's ops for a few thousand people, some accounts shared by a phone and a device-less script."""
    for _ in range(requests):
        now += rng.choice([0.5, 2.0, 30.0])
        person = rng.randrange(3_000)
        script = person % 5 == 0 and rng.random() < 0.5
        sid = f"s{person}{'x' if script else ''}"
        account, ip = f"u{person // 2}", f"10.{person % 7}.0.{person % 50}"
        store.exchange_sync([
            Session("s:" + sid, "born", f"L{now}", ip[:-2], "" if script else f"d{person}", not script),
            Shared("ip:" + ip, account, sid), Shared("asn:1", account, sid),
            Account("a:" + account, (ip, ip[:-2], sid, "mobile", "", "GB", "" if script else f"d{person}", "app",
                                     f"like:{rng.randrange(900)}", "", ""), "L"),
            Target(f"t:{rng.randrange(900)}", f"r{now}"), Crowd(f"c:{rng.randrange(50)}", "s:" + sid),
            Mark("a:" + account, f"like:{rng.randrange(9)}"),
        ], now)
    return now


def test_records_are_invisible_to_the_cyclic_gc():
    """Every record is bytes (a bytearray for a target): never tracked by the cyclic GC, whose full passes would
    otherwise walk every one. What it tracks stays bounded however many entities are held: the tables holding
    big sets (their member dicts untracked) and the hot targets' lists."""
    def tracked_by(requests: int) -> tuple[MemoryStore, int]:
        gc.collect()
        before = len(gc.get_objects())
        store = MemoryStore()
        realistic_traffic(random.Random(requests), store, requests, T0)
        gc.collect()
        return store, len(gc.get_objects()) - before

    store, few = tracked_by(1_000)
    assert not gc.is_tracked(store._data)
    assert not any(gc.is_tracked(record) for record in store._data.values())
    assert store._big_accounts and store._big_sessions  # asn:1 is shared by everyone
    assert not any(gc.is_tracked(d) for d in (*store._big_accounts.values(), *store._big_sessions.values()))
    store, many = tracked_by(6_000)
    assert len(store) > 5_000
    assert many < 2 * memory._LISTS_MAX + 50, (few, many)


class Model:
    """The contract, plainly: per key (kind, expires, state); recency sets as dicts member -> stamp."""

    def __init__(self) -> None:
        self.records: dict[str, list] = {}

    def get(self, key: str, kind: str, now: float, fresh):
        record = self.records.get(key)
        if record is None or record[0] != kind or record[1] <= now:
            record = self.records[key] = [kind, 0.0, fresh()]
        return record

    @staticmethod
    def see(members: dict, member: str, now: float, cap: int) -> None:
        if members:
            now = max(now, next(reversed(members.values())))
        if members.pop(member, None) is None and len(members) >= cap:
            del members[next(iter(members))]
        members[member] = now

    @staticmethod
    def count(members: dict, cut: float) -> int:
        return sum(1 for t in members.values() if t > cut)

    def run(self, op, now: float):
        kind = type(op).__name__
        return getattr(self, kind.lower())(op, now)

    def birth(self, op, now):
        record = self.get(op.key, "session", now, self.fresh_session)
        if record[2]["birth"] is None:
            record[2]["birth"] = op.record
        record[1] = max(record[1], now + SESSION_TTL)

    @staticmethod
    def fresh_session():
        return {"birth": None, "times": [], "loc": None, "last": 0.0, "place": "", "lane": "", "fixed": False,
                "moves": [], "switches": [], "sticky": None, "until": 0.0}

    def session(self, op, now):
        record = self.get(op.key, "session", now, self.fresh_session)
        s = record[2]
        birth = s["birth"]
        if birth is None and op.birth:
            s["birth"] = op.birth
        if s["last"] <= now - RECENT_TTL:
            s["times"], s["loc"] = [], None
        loc, s["loc"] = s["loc"], op.loc
        if op.fixed and s["fixed"] and s["lane"] == op.lane and s["place"] != op.place and now - s["last"] < MOVE_GAP:
            s["moves"] = (s["moves"] + [now])[-MOVES_MAX:]
        if op.lane and s["lane"] and op.lane != s["lane"]:
            s["switches"] = (s["switches"] + [now])[-MOVES_MAX:]
        s["place"], s["lane"], s["fixed"] = op.place, op.lane, op.fixed
        for events in ("moves", "switches"):
            while s[events] and s[events][0] <= now - DAY:
                s[events].pop(0)
        s["last"] = max(s["last"], now)
        times = s["times"][::-1]
        s["times"] = (s["times"] + [now])[-TIMES_MAX:]
        record[1] = max(record[1], now + SESSION_TTL)
        sticky = s["sticky"] if s["sticky"] is not None and now < s["until"] else None
        return birth, times, loc, sticky, len(s["moves"]), len(s["switches"])

    def shared(self, op, now):
        record = self.get(op.key, "shared", now, lambda: {"accounts": {}, "sessions": {}, "sticky": None})
        s = record[2]
        self.see(s["accounts"], op.account, now, SHARED_CAP)
        self.see(s["sessions"], op.session, now, SHARED_CAP)
        record[1] = max(record[1], now + RECENT_TTL)
        return (*(self.count(s["accounts"], now - w) for w in SHARED_ACCOUNT_WINDOWS),
                self.count(s["sessions"], now - SHARED_SESSION_WINDOW), None)

    @staticmethod
    def fresh_account():
        return {"sets": [{} for _ in ACCOUNT_KINDS], "times": [], "loc": None, "last": 0.0, "hours": [],
                "hour": [0, 0, 0], "day": [0, 0, 0], "peers": []}

    def account(self, op, now):
        record = self.get(op.key, "account", now, self.fresh_account)
        a = record[2]
        if a["last"] <= now - RECENT_TTL:
            a["times"], a["loc"] = [], None
        counts = []
        for members, member, windows in zip(a["sets"], op.members, ACCOUNT_WINDOWS, strict=True):
            if member:
                self.see(members, member, now, ACCOUNT_CAP)
            counts += [self.count(members, now - w) for w in windows]
        times = a["times"][::-1]
        a["times"] = (a["times"] + [now])[-TIMES_MAX:]
        hour, slot = math.floor(now / HOUR), math.floor(now / SLOT_S)
        hours = a["hours"]
        if hours and hours[-1][0] == hour:
            if slot > hours[-1][2]:
                hours[-1][1:] = [hours[-1][1] + 1, slot]
        else:
            hours.append([hour, 1, slot])
            if hours[0][0] <= hour - HOURS:
                hours[:] = [h for h in hours if h[0] > hour - HOURS]
            del hours[:-HOURS]
        for name, bucket in (("hour", hour), ("day", math.floor(now / DAY))):
            stored, n, previous = a[name]
            a[name] = [stored, n + 1, previous] if bucket == stored else [bucket, 1, n if bucket == stored + 1 else 0]
        loc, a["loc"] = a["loc"], op.loc
        a["last"] = max(a["last"], now)
        record[1] = max(record[1], now + RECENT_TTL)
        return (counts, times, [h[1] for h in hours], *a["hour"][1:], *a["day"][1:], loc, list(a["peers"]), None)

    def mark(self, op, now):
        record = self.get(op.key, "account", now, self.fresh_account)
        self.see(record[2]["sets"][ACCOUNT_KINDS.index(op.kind)], op.target, now, ACCOUNT_CAP)
        record[1] = max(record[1], now + RECENT_TTL)

    def peers(self, op, now):
        record = self.get(op.key, "account", now, self.fresh_account)
        record[2]["peers"] = list(op.peers[-PEERS_MAX:])
        record[1] = max(record[1], now + RECENT_TTL)

    def target(self, op, now):
        record = self.get(op.key, "target", now, list)
        previous = record[2]
        record[2] = [op.record, *previous[: TARGET_MAX - 1]]
        record[1] = now + TARGET_TTL
        return previous

    def crowd(self, op, now):
        record = self.get(op.key, "crowd", now, dict)
        members = record[2]
        seen = [m for m, t in members.items() if t > now - CROWD_WINDOW]
        self.see(members, op.member, now, CROWD_CAP)
        record[1] = max(record[1], now + CROWD_WINDOW)
        return None if len(seen) >= CROWD_CAP else seen


def model_traffic(rng: random.Random, now: float, lives: Lives) -> list:
    """One request's ops, most as the collector sends them: stable members, an account's phone and script taking
    turns (other addresses, sessions, no device), busy shared entities, hot and cold targets, marks, peers."""
    person = rng.randrange(40)
    script = person % 4 == 0 and rng.random() < 0.5
    sid = f"s{person}{'x' if script else ''}{rng.randrange(2) if rng.random() < 0.05 else ''}"
    account = f"a:u{person // 2}"
    ip = f"10.{0 if script else 1}.{person % 3}.{rng.randrange(3) if rng.random() < 0.1 else person % 9}"
    device = "" if script else f"d{person}"
    target = f"like:{rng.randrange(12) if rng.random() < 0.7 else rng.randrange(3000)}"
    ops = [
        Session("s:" + sid, rng.choice(["", "born"]), f"L{rng.randrange(4)}", ip[:-2], device,
                rng.random() < 0.5),
        Shared("ip:" + ip, account, sid), Shared("pfx:" + ip[:-2], account, sid), Shared("asn:1", account, sid),
        Shared("dev:" + (device or "none"), account, sid),
        Account(account, (ip, ip[:-2], sid, "mobile" if not script else "hosting", "" if script else "64500",
                          rng.choice(["GB", "GB", "GB", ""]), device, "app", target,
                          f"like:{rng.randrange(5)}" if rng.random() < 0.05 else "", ""), f"L{rng.randrange(4)}"),
        Target("t:" + target, f"r{rng.randrange(10_000)}"), Crowd("c:" + target, "s:" + sid),
        Shared("tu:1", f"a{rng.randrange(400)}", f"s{rng.randrange(400)}"),  # past the caps
        Crowd("c:hot", f"s:{rng.randrange(200)}"),
    ]
    if rng.random() < 0.1:
        ops.append(Mark(account, target, rng.choice(MARK_KINDS)))
    if rng.random() < 0.05:
        ops.append(Peers(account, tuple(f"s:{rng.randrange(99)}" for _ in range(rng.choice([0, 3, PEERS_MAX + 2])))))
    return [op for op in ops if lives.admit(op, now)]


@pytest.mark.parametrize("limits", ["as shipped", "tiny", "no big sets"])
def test_answers_as_a_plain_model_of_the_contract(limits, monkeypatch):
    """Realistic traffic, the clock mostly creeping forward, now and then jumping a window or a day, or back a
    little: every answer is the model's. "tiny" makes every shared set past 3 members big and keeps 2 hot
    targets' lists, so those paths are the ones taken; "no big sets" keeps every set inline."""
    if limits == "tiny":
        monkeypatch.setattr(memory, "_BIG", 3)
        monkeypatch.setattr(memory, "_LISTS_MAX", 2)
        monkeypatch.setattr(memory, "_LIST_FROM", 2)
        monkeypatch.setattr(memory, "_NAMES_MAX", 2)
    elif limits == "no big sets":
        monkeypatch.setattr(memory, "_BIG", SHARED_CAP)
    rng = random.Random(11)
    store, model, lives = MemoryStore(), Model(), Lives()
    now = T0
    for step in range(6_000):
        now += rng.choice([0.25, 1.0, 7.0, 45.0, 300.0, 901.0, 3601.0, -5.0, -60.0])
        if step % 1_500 == 1_499:
            now += DAY
        ops = model_traffic(rng, now, lives)
        lives.latest = max(lives.latest, now)
        values = store.exchange_sync(ops, now).values
        for op, value in zip(ops, values, strict=True):
            assert value == model.run(op, now), (step, op)


def test_big_sets_and_hot_lists_are_dropped_with_their_entities():
    """A shared entity's big sets live beside its record: evicted, swept or replaced with it. Hot targets' lists
    are bounded."""
    store = MemoryStore(max_keys=300)
    for i in range(2_000):
        now = T0 + i
        store.exchange_sync([Shared(f"ip:{i % 400}", f"a{j}", f"s{j}") for j in range(memory._BIG + 2)]
                            + [Target(f"t:{i}", "r")], now)
        assert set(store._big_accounts) <= set(store._data) and set(store._big_sessions) <= set(store._data)
        assert len(store._lists) <= memory._LISTS_MAX
    store.exchange_sync([Target("ip:399", "r")], T0 + 3_000)  # another kind replaces it: its big sets go too
    assert store.exchange_sync([Shared("ip:399", "a", "s")], T0 + 3_001).values == [(1, 1, 1, 1, None)]
    for i in range(200):  # every entity idle past its life: swept
        store.exchange_sync([], T0 + 3 * DAY + i)
    assert len(store) < 300 and set(store._big_accounts) <= set(store._data)


def test_a_clock_out_of_range_is_refused():
    store = MemoryStore()
    for now in (math.nan, math.inf, 2e11, -2e11):
        with pytest.raises(ValueError, match="clock"):
            store.exchange_sync([Shared("ip:1", "a", "s")], now)
    assert len(store) == 0
