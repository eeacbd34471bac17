"""The Redis backend: one round trip per exchange, and an outage degrades instead of failing.

Uses the real Redis on 127.0.0.1:6379 for round-trip counting, and starts its
own ``redis-server`` on a spare loopback port for the outage test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import shutil
import struct
import time
import uuid

import pytest
import redis.asyncio as aioredis
from redis_support import REDIS_URL, drop_keys, free_port, redis_or_skip, start_redis

from gateway.settings import State
from gateway.state.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from gateway.state.memory import MemoryStore
from gateway.state.redis_store import RedisStore
from gateway.state.store import (
    ACCOUNT_CAP,
    ACCOUNT_KINDS,
    CROWD_CAP,
    CROWD_WINDOW,
    PEERS_MAX,
    RECENT_TTL,
    SESSION_TTL,
    SHARED_CAP,
    TARGET_TTL,
    Account,
    Crowd,
    Mark,
    Peers,
    Session,
    Shared,
    Stick,
    Target,
)

T0 = 1_700_000_000.0


MEMBERS = ("203.0.113.7", "203.0.113", "s1", "mobile", "64500", "NL", "d1", "app", "like:m1", "", "")


def request_ops(i: int, now: float) -> list:
    """A protected request's ops: its session, four shared entities, its account, its target and its crowd."""
    return [
        Session("s:s1", "born", f"{now}|52.3|4.9|mobile"),
        Shared("ip:203.0.113.7", f"a:{i % 5}", "s1"),
        Shared("pfx:203.0.113", f"a:{i % 5}", "s1"),
        Shared("asn:64500/mobile", f"a:{i % 5}", "s1"),
        Shared("dev:d1", f"a:{i % 5}", "s1"),
        Account("a:1", MEMBERS, f"{now}|52.3|4.9|mobile"),
        Target("t:like:m1", f"{now}|h|203.0.113"),
        Crowd("c:like:m1", "s:s1"),
    ]


SCRIPT_COMMANDS = {f"cmdstat_{name}" for name in ("mget", "get", "set", "setrange", "pexpire", "del")}


async def commands_served(client) -> dict[str, int]:
    """Calls per command the server has run, except our own INFO probes."""
    stats = await client.info("commandstats")
    return {name: int(v["calls"]) for name, v in stats.items() if name != "cmdstat_info"}


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_one_round_trip_per_exchange_counted_by_the_server():
    port = free_port()
    server = start_redis(port)  # a private server: every command it runs is ours
    url = f"redis://127.0.0.1:{port}/0"
    client = aioredis.Redis.from_url(url)
    store = RedisStore(State(backend="redis", url=url, prefix="gw", timeout_ms=2000.0))
    try:
        await store.exchange(request_ops(0, T0), T0)  # connects and loads the function library
        sends = []
        [conn] = store._seed.idle  # the one connection a request at a time needs
        write = conn._writer.writelines
        conn._writer.writelines = lambda data: (sends.append(data), write(data))
        before, trips, sent = await commands_served(client), store.round_trips, len(sends)
        for i in range(1, 21):
            result = await store.exchange(request_ops(i, T0 + i), T0 + i)
            assert result.degraded is False
        after = await commands_served(client)
        served = {name for name in after if after[name] != before.get(name, 0)}
        # client side: 20 writes to the socket, each one FCALL
        assert len(sends) - sent == 20
        assert store.round_trips - trips == 20
        # server side: 20 FCALL, and nothing else but what the function itself runs
        assert after["cmdstat_fcall"] - before.get("cmdstat_fcall", 0) == 20
        assert served - SCRIPT_COMMANDS == {"cmdstat_fcall"}
    finally:
        await store.close()
        await client.aclose()
        server.kill()
        server.wait()


@pytest.fixture
async def local():
    """A RedisStore on the local server under a fresh prefix, its client and prefix; cleaned up after."""
    client = await redis_or_skip()
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    store = RedisStore(State(backend="redis", url=REDIS_URL, prefix=prefix, timeout_ms=2000.0))
    yield store, client, prefix
    await store.close()
    await drop_keys(client, prefix)
    await client.aclose()


@contextlib.asynccontextmanager
async def private_redis():
    """A private redis-server: its URL and a client; killed afterwards."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    client = aioredis.Redis.from_url(url)
    try:
        yield url, client
    finally:
        await client.aclose()
        server.kill()
        server.wait()


@pytest.fixture
async def private():
    """A RedisStore on a private redis-server, for tests that flush functions or scripts or add users: the shared
    server may hold other people's libraries."""
    async with private_redis() as (url, client):
        store = RedisStore(State(backend="redis", url=url, prefix="gw", timeout_ms=2000.0))
        yield store, client, url
        await store.close()


async def test_library_is_loaded_again_after_a_flush(private):
    store, client, _ = private
    await store.exchange(request_ops(0, T0), T0)
    await client.function_flush()
    trips = store.round_trips
    result = await store.exchange(request_ops(1, T0 + 1), T0 + 1)
    assert result.degraded is False
    assert result.values[0][0] == "born"
    assert store.round_trips - trips == 3  # FCALL: function not found; FUNCTION LOAD; FCALL
    await store.exchange(request_ops(2, T0 + 2), T0 + 2)
    assert store.round_trips - trips == 4


async def test_a_refusal_that_may_pass_fails_one_exchange_and_a_flush_under_load_loads_once():
    """OOM (READONLY, BUSY, LOADING) once switched the function library off for good; and every exchange that
    found it missing sent a FUNCTION LOAD of its own, queued on the server's one thread."""
    async with private_redis() as (url, client):
        store = RedisStore(State(backend="redis", url=url, prefix="gw", timeout_ms=2000.0, breaker_failures=1000))
        try:
            await client.config_set("maxmemory", "1")  # noeviction: every write is refused, FUNCTION LOAD too
            assert (await store.exchange(request_ops(0, T0), T0)).degraded is True
            await client.config_set("maxmemory", "0")
            assert (await store.exchange(request_ops(1, T0 + 1), T0 + 1)).degraded is False
            stats = await client.info("commandstats")
            assert "cmdstat_fcall" in stats and "cmdstat_eval" not in stats and "cmdstat_evalsha" not in stats
            await client.function_flush()
            await client.config_resetstat()
            results = await asyncio.gather(*[store.exchange(request_ops(i, T0 + 2), T0 + 2) for i in range(50)])
            assert not any(r.degraded for r in results)
            stats = await client.info("commandstats")
            assert stats["cmdstat_function|load"]["calls"] == 1
        finally:
            await store.close()


async def test_writes_an_outage_kept_local_reach_redis_with_the_next_exchange_it_answers():
    """A sticky decision, a mark or peers learned while Redis refused them lived only in one replica's fallback:
    the other replicas never saw the block. They now travel with the next exchange Redis answers."""
    async with private_redis() as (url, client):
        one, other = (RedisStore(State(backend="redis", url=url, prefix="gw", timeout_ms=2000.0)) for _ in range(2))
        try:
            await one.exchange([Session("s:x", "born", "L")], T0)  # loads the library
            await client.config_set("maxmemory", "1")
            written = [Stick("s:x", "block|r|9", T0 + 600), Mark("a:x", "like:m1"), Peers("a:x", ("s:y",))]
            assert (await one.exchange([*written, Session("s:x", "", "L")], T0 + 1)).degraded is True
            await client.config_set("maxmemory", "0")
            answer = await one.exchange([Shared("ip:1", "a", "s")], T0 + 2)
            assert answer.degraded is False and answer.values == [(1, 1, 1, 1, None)]  # its own answers only
            seen = (await other.exchange([Session("s:x", "", "L"), Account("a:x", MEMBERS, "L")], T0 + 3)).values
            assert seen[0][3] == "block|r|9" and seen[1][8] == ["s:y"]
        finally:
            for store in (one, other):
                await store.close()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_connections_a_restart_closed_are_not_reused_and_a_burst_leaves_few_open():
    """After a restart every idle connection failed one request (a burst of them opened the breaker on a healthy
    server); and a burst of 200 left 200 connections open for good."""
    port = free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    store = RedisStore(State(backend="redis", url=url, prefix="gw", timeout_ms=2000.0))
    try:
        await asyncio.gather(*[store.exchange(request_ops(i, T0), T0) for i in range(50)])
        server.kill()
        server.wait()
        server = start_redis(port)
        await asyncio.sleep(0.2)  # the loop sees every closed connection's end
        results = await asyncio.gather(*[store.exchange(request_ops(i, T0 + 1), T0 + 1) for i in range(50)])
        assert not any(r.degraded for r in results)
        await asyncio.gather(*[store.exchange(request_ops(i, T0 + 2), T0 + 2) for i in range(200)])
        client = aioredis.Redis.from_url(url)
        clients = len(await client.client_list())
        await client.aclose()
        assert clients <= 33 + 1  # the idle ones kept, and the one asking
    finally:
        await store.close()
        server.kill()
        server.wait()


async def test_a_user_who_may_not_load_functions_runs_the_script_with_the_same_answers(private):
    """Where FUNCTION LOAD is refused (a restricted user here; a server before Redis 7 alike), EVALSHA serves."""
    store, client, server_url = private
    prefix = "gw"
    user, password = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"],
                             commands=["+@all", "-function"])
    url = f"redis://{user}:{password}@127.0.0.1:{server_url.rsplit(':', 1)[1]}"
    limited = RedisStore(State(backend="redis", url=url, prefix=prefix + "-acl", timeout_ms=2000.0))
    try:
        for i in range(3):
            ops = request_ops(i, T0 + i)
            got, want = await limited.exchange(ops, T0 + i), await store.exchange(request_ops(i, T0 + i), T0 + i)
            assert got.degraded is False and got.values == want.values
        assert limited._seed.library is False and limited._seed.loaded is True
        await client.script_flush()
        trips = limited.round_trips
        result = await limited.exchange(request_ops(3, T0 + 3), T0 + 3)
        assert result.degraded is False
        assert limited.round_trips - trips == 2  # NOSCRIPT, then EVAL with the text
    finally:
        await limited.close()
        await drop_keys(client, prefix + "-acl")
        await client.acl_deluser(user)


async def test_one_key_per_entity_with_the_prefix_a_hash_tag_and_a_real_expiry(local):
    store, client, prefix = local
    assert store.redis_key("ip:203.0.113.7") == f"{prefix}:{{ip:203.0.113.7}}"
    await store.exchange(request_ops(0, T0), T0)
    await store.exchange(request_ops(1, T0 + 1), T0 + 1)
    await store.exchange([Stick("dev:d1", "block|r|x", T0 + 3 * RECENT_TTL)], T0 + 2)
    keys = sorted([k.decode() async for k in client.scan_iter(match=f"{prefix}:*")])
    entities = ["s:s1", "ip:203.0.113.7", "pfx:203.0.113", "asn:64500/mobile", "dev:d1", "a:1", "t:like:m1",
                "c:like:m1"]
    assert keys == sorted(f"{prefix}:{{{entity}}}" for entity in entities)
    # Redis drops each record by itself: its life left on the op clock when written, plus a minute (a shared
    # entity's, plus an hour: a busy one edited in place sets it again about once an hour)
    lives = {"s:s1": SESSION_TTL, "ip:203.0.113.7": RECENT_TTL + 3600, "a:1": RECENT_TTL, "t:like:m1": TARGET_TTL,
             "c:like:m1": CROWD_WINDOW, "dev:d1": 3 * RECENT_TTL - 2 + 3600}
    for entity, life in lives.items():
        pttl = await client.pttl(store.redis_key(entity))
        assert life * 1000 + 60_000 - 10_000 < pttl <= life * 1000 + 60_000, (entity, pttl)
    for key in keys:
        assert await client.type(key) == b"string"
    await client.delete(*keys)


async def test_a_foreign_value_under_a_key_reads_as_absent_and_is_replaced(local):
    store, client, prefix = local
    await client.rpush(store.redis_key("ip:1"), "a list")
    await client.set(store.redis_key("ip:2"), b"\xc1 not msgpack")
    await client.set(store.redis_key("ip:3"), b"\x93\xa2S1\x01\x02")  # msgpack of another layout
    await client.set(store.redis_key("s:4"), "1700000000|old format")
    result = await store.exchange([Shared("ip:1", "a", "s"), Shared("ip:2", "a", "s"),
                                   Shared("ip:3", "a", "s"), Session("s:4", "b", "L")], T0)
    assert result.degraded is False
    assert result.values == [(1, 1, 1, 1, None)] * 3 + [(None, [], None, None, 0, 0)]
    assert await client.type(store.redis_key("ip:1")) == b"string"


async def test_a_value_cut_short_under_a_known_tag_reads_as_absent_and_is_replaced(local):
    """A truncated or foreign value that starts like one of ours once failed the script on every request that
    touched it (every one degraded, the breaker open for everyone), and was never replaced."""
    store, client, prefix = local
    ops = request_ops(1, T0)
    expected = MemoryStore().exchange_sync(ops, T0).values  # as if nothing were stored
    corrupt = {
        "s:s1": [b"S4", b"S4" + b"\x00" * 40, b"S4" + struct.pack("<dddiiiIIHHHB", T0 + 9e4, 0, T0, -1, 99, -1, 0, 0,
                                                                          0, 0, 0, 0)],
        "ip:203.0.113.7": [b"H6", b"H6" + struct.pack("<dddBHHHHH", T0 + 9e4, 0, 0, 0, 0, 128, 0, 0, 0),
                           b"H5" + struct.pack("<ddBHHHHH", T0 + 9e4, 0, 0, 0, 128, 0, 0, 0)],
        "a:1": [b"A5" + b"\x01" * 30],
        "t:like:m1": [b"T2" + struct.pack("<dH", T0 + 99, 40), b"T2" + struct.pack("<dH", T0 + 99, 2) + b"x"],
        "c:like:m1": [b"C2" + struct.pack("<dH", T0 + 9e4, 3) + b"\x00" * 8],
    }
    for round_ in range(3):
        for key, values in corrupt.items():
            await client.set(store.redis_key(key), values[round_ % len(values)], px=600_000)
        result = await store.exchange(ops, T0)
        assert result.degraded is False and store.breaker.state == "closed"
        assert result.values == expected, round_
        for key in corrupt:  # replaced with a record of its kind, which reads back
            assert (await client.get(store.redis_key(key)))[:2] == {"s": b"S4", "i": b"H6", "a": b"A5", "t": b"T2",
                                                                     "c": b"C2"}[key[0]]


async def test_a_malformed_op_raises_and_is_no_outage():
    store = RedisStore(State(backend="redis", url=REDIS_URL, timeout_ms=2000.0))
    try:
        with pytest.raises(ValueError, match="ACCOUNT_KINDS"):
            await store.exchange([Account("a:1", ("ip",), "L")], T0)
        with pytest.raises(ValueError, match="never a target"):
            await store.exchange([Stick("t:like:m1", "block|r|x", T0 + 5)], T0)
        with pytest.raises(ValueError, match="never a target or a crowd"):
            await store.exchange([Stick("c:like:m1", "block|r|x", T0 + 5)], T0)
        # refused while the exchange is encoded: no op of it reaches the server
        with pytest.raises(ValueError, match="Mark into 'target': the kinds are burst, crowd"):
            await store.exchange([Session("s:1", "b", "L"), Mark("a:1", "like:x", "target")], T0)
        assert store.breaker.state == CLOSED and store.round_trips == 0 and store.degraded_exchanges == 0
    finally:
        await store.close()


def test_bad_url_is_a_clear_error():
    with pytest.raises(ValueError, match="rediss://"):
        RedisStore(State(backend="redis", url="http://127.0.0.1:6379"))


def test_breaker_opens_after_consecutive_failures_and_probes_once():
    now = [0.0]
    breaker = CircuitBreaker(failures=3, reset_s=5.0, clock=lambda: now[0])
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    breaker.allow()
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    now[0] = 4.9
    assert not breaker.allow()
    now[0] = 5.0
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow()


# -- outage --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_outage_degrades_every_exchange_then_recovers():
    port = free_port()
    server = start_redis(port)
    state = State(backend="redis", url=f"redis://127.0.0.1:{port}/0", prefix="gw", timeout_ms=200.0,
                  breaker_failures=3, breaker_reset_s=0.5)
    fallback = MemoryStore(max_keys=10_000)
    store = RedisStore(state, fallback=fallback)
    try:
        for i in range(5):
            result = await store.exchange(request_ops(i, T0 + i), T0 + i)
            assert result.degraded is False
        [counts] = (await store.exchange([Shared("ip:203.0.113.7", "a:9", "s1")], T0 + 6)).values
        assert counts[:3] == (6, 6, 6)  # a:0..4 plus a:9, all in Redis

        server.kill()
        server.wait()
        outcomes = []
        for i in range(10, 30):  # traffic keeps flowing while Redis is gone
            start = time.monotonic()
            result = await store.exchange(request_ops(i, T0 + i), T0 + i)
            outcomes.append((result.degraded, time.monotonic() - start, len(result.values)))
        assert all(degraded for degraded, _, _ in outcomes)
        assert all(n == 8 for _, _, n in outcomes)
        # each call is bounded by the timeout (with slack for a loaded machine)
        assert max(elapsed for _, elapsed, _ in outcomes) < 2.0
        assert store.breaker.state == OPEN
        assert fallback.exchange_sync([Session("s:s1", "", "L")], T0 + 30).values[0][0] == "born"

        server = start_redis(port)  # same port, empty server
        await asyncio.sleep(0.6)  # past breaker_reset_s: the next call probes
        result = await store.exchange(request_ops(40, T0 + 40), T0 + 40)
        assert result.degraded is False
        assert store.breaker.state == CLOSED
        # state now lives in the fresh Redis again: the session is new there
        assert result.values[0] == (None, [], None, None, 0, 0)
        result = await store.exchange([Session("s:s1", "", "L")], T0 + 41)
        assert result.values[0][0] == "born" and result.degraded is False
    finally:
        await store.close()
        server.kill()
        server.wait()


async def test_nothing_listening_degrades_without_raising():
    port = free_port()  # bound and released: nothing listens there
    state = State(backend="redis", url=f"redis://127.0.0.1:{port}/0", timeout_ms=100.0,
                  breaker_failures=2, breaker_reset_s=60.0)
    store = RedisStore(state)
    try:
        results = [await store.exchange(request_ops(i, T0 + i), T0 + i) for i in range(5)]
        assert all(r.degraded for r in results)
        assert store.round_trips == 2  # the breaker opened after two failures: no more attempts
        assert results[-1].values[0][0] == "born"  # answered from local state
        assert store.degraded_exchanges == 5
    finally:
        await store.close()


async def test_records_stay_small_under_a_flood_of_members(local):
    """A shared address seen with thousands of accounts, an account on thousands of networks: bounded records."""
    store, client, prefix = local
    rng = random.Random(3)
    sizes = []
    for step in range(1_500):
        now = T0 + step * 0.5
        members = tuple(f"{kind}-{rng.getrandbits(48):x}" for kind in ACCOUNT_KINDS)
        ops = [Shared("ip:cgnat", f"a:{rng.getrandbits(48):x}", f"s{rng.getrandbits(48):x}"),
               Account("a:1", members, "L"), Mark("a:1", f"like:{rng.getrandbits(48):x}"),
               Mark("a:1", f"like:{rng.getrandbits(48):x}", "crowd"),
               Peers("a:1", tuple(f"s:{rng.getrandbits(48):012x}" for _ in range(PEERS_MAX + 20))),
               Session("s:1", "b", f"{now}|52.3|4.9|mobile"), Target("t:1", "x" * 40),
               Crowd("c:1", f"s:{rng.getrandbits(48):012x}")]
        result = await store.exchange(ops, now)
        assert result.degraded is False
        if step in (500, 1_499):
            sizes.append([await client.strlen(store.redis_key(k)) for k in ("ip:cgnat", "a:1", "s:1", "t:1", "c:1")])
    assert all(late <= early * 1.05 for early, late in zip(*sizes, strict=True))  # at the caps: no growth
    shared, account, session, target, crowd = sizes[1]
    # sets: a 12-byte digest and a double per member; peers and crowd members: 14 characters and a header byte
    assert shared < 2 * 128 * 34 and session < 600 and target < 32 * 45
    assert account < len(ACCOUNT_KINDS) * ACCOUNT_CAP * 34 + PEERS_MAX * 20 and crowd < CROWD_CAP * 30


def digest(member: str) -> bytes:
    return hashlib.sha1(member.encode()).digest()[:12]


async def write_previous(client, key: str, record: str, *args: object) -> None:
    """Store a record as the previous layout wrote it: a msgpack array, built in Lua (``record``) from ARGV."""
    await client.eval(f"local a = ARGV\n{record}\nredis.call('SET', KEYS[1], cmsgpack.pack(r), 'PX', 3600000)",
                      1, key, *args)


def account_of_the_previous_layout(seen: tuple[str, ...], loc: str, peers: str = "") -> str:
    """Lua for an account record of the previous layout, after one Account op at a[3] with each kind's set
    holding ``seen`` (a[1] expiry, a[2] its times, a[4..6] its hour, slot and day, a[7..] the sets)."""
    return (f"local sets = {{unpack(a, 7, {6 + 2 * len(seen)})}}\n"
            f"local r = {{'A4', tonumber(a[1]), false, 0, a[2], '{loc}', tonumber(a[3]), sets, "
            "{tonumber(a[4]), 1, tonumber(a[5])}, tonumber(a[4]), 1, 0, tonumber(a[6]), 1, 0}\n" + peers)


def account_args(now: float, seen: tuple[str, ...]) -> list:
    sets = [x for member in seen for x in ((digest(member), struct.pack("<d", now)) if member else (b"", b""))]
    return [now + RECENT_TTL, struct.pack("<d", now), now, math.floor(now / 3600), math.floor(now / 600),
            math.floor(now / 86400), *sets]


async def test_an_account_written_before_crowds_and_peers_reads_as_without_them(local):
    """A record of the layout before the "crowd" kind and peers (one set pair fewer, no peers field) stays valid."""
    store, client, prefix = local
    assert MEMBERS[-1] == ""  # nothing seen in the crowd set: the missing pair is empty
    ops = [Account("a:old", MEMBERS, "L1"), Mark("a:old", "like:b")]
    old = len(ACCOUNT_KINDS) - 1
    seen = (*MEMBERS[:old - 1], "like:b")  # the Mark saw into the burst set
    assert ACCOUNT_KINDS[old - 1] == "burst" and MEMBERS[old - 1] == ""
    await write_previous(client, store.redis_key("a:old"), account_of_the_previous_layout(seen, "L1"),
                         *account_args(T0, seen))
    reference = MemoryStore()
    reference.exchange_sync(ops, T0)  # the same history
    later = [Account("a:old", MEMBERS, "L2"), Mark("a:old", "like:c", "crowd")]
    expected = reference.exchange_sync(later, T0 + 1).values
    assert expected[0][8] == [] and expected[0][1] == [T0] and expected[0][7] == "L1"  # read, not replaced
    assert (await store.exchange(later, T0 + 1)).values == expected
    later = [Peers("a:old", ("s:1",)), Account("a:old", MEMBERS, "L3")]
    expected = reference.exchange_sync(later, T0 + 2).values
    assert expected[1][8] == ["s:1"] and expected[1][0][-1] == 1  # the crowd Mark on the old record counts
    assert (await store.exchange(later, T0 + 2)).values == expected


async def test_records_of_the_previous_layout_are_read_and_converted(local):
    """Sessions, accounts with peers, targets and crowds written as msgpack arrays answer as their history does."""
    store, client, prefix = local
    odd = "odd\x1fone"  # a text that a list keeps escaped
    await write_previous(client, store.redis_key("s:old"),
                         "local r = {'S2', tonumber(a[1]), false, 0, 'born', a[2], 'L1', tonumber(a[3]), 'p1', 'd1', "
                         "true, ''}", T0 + SESSION_TTL, struct.pack("<d", T0), T0)
    seen = MEMBERS
    await write_previous(client, store.redis_key("a:old"),
                         account_of_the_previous_layout(seen, "L1", f"r[16] = {{'s:9', a[{7 + 2 * len(seen)}]}}"),
                         *account_args(T0, seen), odd)
    await write_previous(client, store.redis_key("t:old"), "local r = {'T1', tonumber(a[1]), false, 0, {'r2', a[2]}}",
                         T0 + TARGET_TTL, odd)
    await write_previous(client, store.redis_key("c:old"), "local r = {'C1', tonumber(a[1]), false, 0, {'s1', a[3]}, a[2]}",
                         T0 + CROWD_WINDOW, struct.pack("<dd", T0, T0), odd)
    # a shared record was raw already: head, sticky decision, per set its digests, then its times
    sticky = b"block|r|x"
    shared = (b"H4" + struct.pack("<ddBHHH", T0 + 1 + RECENT_TTL, T0 + 90, 1, len(sticky), 2, 1) + sticky
              + digest("a1") + digest("a2") + struct.pack("<dd", T0, T0 + 1) + digest("s1") + struct.pack("<d", T0 + 1))
    await client.set(store.redis_key("ip:old"), shared, px=3_600_000)
    reference = MemoryStore()
    reference.exchange_sync([Session("s:old", "born", "L1", "p1", "d1", True), Account("a:old", MEMBERS, "L1"),
                             Peers("a:old", ("s:9", odd)), Target("t:old", odd), Target("t:old", "r2"),
                             Crowd("c:old", "s1"), Crowd("c:old", odd), Shared("ip:old", "a1", "s1")], T0)
    reference.exchange_sync([Shared("ip:old", "a2", "s1"), Stick("ip:old", "block|r|x", T0 + 90)], T0 + 1)
    later = [Session("s:old", "", "L2", "p2", "d1", True), Account("a:old", MEMBERS, "L2"), Target("t:old", "r3"),
             Crowd("c:old", "s2"), Crowd("c:old", "s1"), Shared("ip:old", "a1", "s2")]
    expected = reference.exchange_sync(later, T0 + 60).values
    assert expected[0] == ("born", [T0], "L1", None, 1, 0) and expected[1][8] == ["s:9", odd]
    assert expected[2] == ["r2", odd] and expected[4] == ["s1", odd, "s2"] and expected[5] == (2, 2, 2, 2, "block|r|x")
    assert (await store.exchange(later, T0 + 60)).values == expected


async def test_a_session_of_the_layout_before_switches_is_converted(local):
    """An S3 session (no switches section) keeps its birth, times, location, sticky decision and moves."""
    store, client, prefix = local
    sticky, birth, loc, place, lane = b"block|r|x", b"born", b"L1", b"p1", b"d1"
    times, moves = struct.pack("<dd", T0 + 30, T0), struct.pack("<d", T0 + 30)  # times newest first
    head = struct.pack("<dddiiiIIHHB", T0 + SESSION_TTL, T0 + 600, T0 + 30,
                       len(sticky), len(birth), len(loc), len(place), len(lane), len(times), len(moves), 1)
    await client.set(store.redis_key("s:s3"), b"S3" + head + sticky + birth + loc + place + lane + times + moves,
                     px=3_600_000)
    reference = MemoryStore()
    reference.exchange_sync([Session("s:s3", "born", "L0", "p0", "d1", True)], T0)
    reference.exchange_sync([Session("s:s3", "", "L1", "p1", "d1", True), Stick("s:s3", "block|r|x", T0 + 600)], T0 + 30)
    later = [Session("s:s3", "", "L2", "p2", "d2", True)]
    expected = reference.exchange_sync(later, T0 + 60).values
    assert expected == [("born", [T0 + 30, T0], "L1", "block|r|x", 1, 1)]  # another device: a switch, not a move
    assert (await store.exchange(later, T0 + 60)).values == expected


async def test_a_shared_record_of_the_layout_before_is_converted(local):
    """An H5 record (12-byte digests in rings that start mid-way, no expiry cover) answers as its history does."""
    store, client, prefix = local
    sticky = b"block|r|x"

    def ring(entries: list[tuple[str, float]], start: int) -> bytes:
        slots = [digest(member) + struct.pack("<d", t) for member, t in entries]  # logical order, oldest first
        physical = [b""] * len(slots)
        for j, slot in enumerate(slots):
            physical[(start + j) % len(slots)] = slot
        return b"".join(physical)

    # a1 falls out of the 10-minute window below: counting it needs the rings' order
    accounts = [("a1", T0), ("a2", T0 + 400), ("a3", T0 + 700)]
    sessions = [("s0", T0), ("s1", T0 + 400), ("s2", T0 + 700)]
    head = struct.pack("<ddBHHHHH", T0 + 700 + RECENT_TTL, T0 + 900, 1, len(sticky), 3, 1, 3, 2)
    await client.set(store.redis_key("pfx:old"), b"H5" + head + sticky + ring(accounts, 1) + ring(sessions, 2),
                     px=3_600_000)
    reference = MemoryStore()
    for (account, t), (session, _) in zip(accounts, sessions, strict=True):
        reference.exchange_sync([Shared("pfx:old", account, session)], t)
    reference.exchange_sync([Stick("pfx:old", "block|r|x", T0 + 900)], T0 + 700)
    for step, (account, session) in enumerate([("a2", "s3"), ("a4", "s1"), ("a1", "s2")]):
        now = T0 + 800 + step
        expected = reference.exchange_sync([Shared("pfx:old", account, session)], now).values
        assert (await store.exchange([Shared("pfx:old", account, session)], now)).values == expected
    assert expected == [(4, 4, 4, 4, "block|r|x")]
    assert (await client.get(store.redis_key("pfx:old")))[:2] == b"H6"


async def test_busy_shared_entities_edited_in_place_answer_as_memory_does(local):
    """Sets at their caps are rings edited in place: members seen again (either side of the ring moves), new members
    taking the oldest's slot, several ops on one entity per exchange, sticky decisions; memory answers the same."""
    store, client, prefix = local
    rng = random.Random(11)
    reference = MemoryStore()
    def calls(stats, command):
        return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))

    before = await client.info("commandstats")
    now, peak = T0, 0
    for step in range(1_200):
        now += rng.choice([0.0, 0.5, 1.0, 30.0, 120.0])  # the 10-minute and hour windows cut the rings' middles
        ops: list = []
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(("pfx:busy", "asn:busy"))
            if rng.random() < 0.95:
                few = 5 if rng.random() < 0.3 else 200  # a few regulars come back often
                ops.append(Shared(key, f"a{rng.randrange(few)}", f"s{rng.randrange(few)}"))
            else:
                ops.append(Stick(key, rng.choice(["block|r|x", "challenge|a-longer-rule|y"]), now + rng.choice([-1, 60])))
        expected = reference.exchange_sync(ops, now).values
        result = await store.exchange(ops, now)
        assert result.degraded is False
        assert result.values == expected, f"step {step}: {ops}"
        peak = max([peak, *(value[2] for value in expected if value)])
    assert peak == SHARED_CAP  # the accounts' set reached its cap
    after = await client.info("commandstats")
    assert calls(after, "setrange") - calls(before, "setrange") > 1_000  # edited in place, not rewritten
    # Redis's own expiry is set again about once an hour of the op clock (about 10 hours here), not per edit,
    # and always covers the record's life
    assert calls(after, "pexpire") - calls(before, "pexpire") < 40
    for key in ("pfx:busy", "asn:busy"):
        assert await client.pttl(store.redis_key(key)) > RECENT_TTL * 1000

