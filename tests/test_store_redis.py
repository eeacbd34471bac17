"""The Redis backend: one round trip per exchange, and an outage degrades instead of failing.

Uses the real Redis on 127.0.0.1:6379 for round-trip counting, and starts its
own ``redis-server`` on a spare loopback port for the outage test.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import redis.asyncio as aioredis

from gateway.settings import State
from gateway.signals.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from gateway.signals.memory import MemoryStore
from gateway.signals.redis_store import RedisStore
from gateway.signals.store import Append, Distinct, Get, Incr, Put, PutIfAbsent

LOCAL_URL = "redis://127.0.0.1:6379/0"
T0 = 1_700_000_000.0


def request_ops(i: int, now: float) -> list:
    return [
        Distinct("ip:203.0.113.7#accounts", f"acct:{i % 5}", now, (60.0, 3600.0), ttl=86400),
        Distinct("acct:1#ips", "203.0.113.7", now, (3600.0,), ttl=86400),
        Append("sess:s1#ts", now, ttl=3600),
        Get("sess:s1#birth"),
        PutIfAbsent("sess:s1#birth", "born", ttl=86400),
        Put("sess:s1#loc", f"{now}|52.3|4.9", ttl=3600),
        Incr("acct:1#minute", 1, ttl=60),
    ]


async def local_redis():
    client = aioredis.Redis.from_url(LOCAL_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no server to test against
        await client.aclose()
        pytest.skip(f"no Redis answering at {LOCAL_URL} ({error}); start redis-server to run these")
    return client


SCRIPT_COMMANDS = {f"cmdstat_{name}" for name in (
    "mget get set del zrange zadd zremrangebyrank zcount pexpire".split()
)}


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
        sends = []
        pool = store._client.connection_pool

        class CountingConnection(pool.connection_class):
            async def send_packed_command(self, command, check_health=True):
                sends.append(command)
                return await super().send_packed_command(command, check_health)

        pool.connection_class = CountingConnection
        await store.exchange(request_ops(0, T0), T0)  # connects and loads the script
        before, trips, sent = await commands_served(client), store.round_trips, len(sends)
        for i in range(1, 21):
            result = await store.exchange(request_ops(i, T0 + i), T0 + i)
            assert result.degraded is False
        after = await commands_served(client)
        served = {name for name in after if after[name] != before.get(name, 0)}
        # client side: 20 writes to the socket, each one EVALSHA
        assert len(sends) - sent == 20
        assert store.round_trips - trips == 20
        # server side: 20 EVALSHA, and nothing else but what the script itself runs
        assert after["cmdstat_evalsha"] - before.get("cmdstat_evalsha", 0) == 20
        assert served - SCRIPT_COMMANDS == {"cmdstat_evalsha"}
    finally:
        await store.close()
        await client.aclose()
        server.kill()
        server.wait()


async def test_script_is_resent_once_after_a_flush():
    client = await local_redis()
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    store = RedisStore(State(backend="redis", url=LOCAL_URL, prefix=prefix, timeout_ms=2000.0))
    try:
        await store.exchange(request_ops(0, T0), T0)
        await client.script_flush()
        trips = store.round_trips
        result = await store.exchange(request_ops(1, T0 + 1), T0 + 1)
        assert result.degraded is False
        assert result.values[3] == "born"
        assert store.round_trips - trips == 2  # NOSCRIPT, then EVAL with the text
        await store.exchange(request_ops(2, T0 + 2), T0 + 2)
        assert store.round_trips - trips == 3
    finally:
        await store.close()
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_keys_carry_the_prefix_and_a_hash_tag():
    client = await local_redis()
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    store = RedisStore(State(backend="redis", url=LOCAL_URL, prefix=prefix, timeout_ms=2000.0))
    try:
        assert store.redis_key("ip:203.0.113.7#accounts") == f"{prefix}:{{ip:203.0.113.7}}:accounts"
        await store.exchange(request_ops(0, T0), T0)
        keys = sorted([k.decode() async for k in client.scan_iter(match=f"{prefix}:*")])
        assert keys == sorted(
            f"{prefix}:{{{entity}}}:{field}"
            for entity, field in [("ip:203.0.113.7", "accounts"), ("acct:1", "ips"), ("sess:s1", "ts"),
                                  ("sess:s1", "birth"), ("sess:s1", "loc"), ("acct:1", "minute")]
        )
        for key in keys:  # every key expires on its own
            assert await client.pttl(key) > 0
        await client.delete(*keys)
    finally:
        await store.close()
        await client.aclose()


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


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
        [counts] = (await store.exchange([Distinct("ip:203.0.113.7#accounts", "acct:9", T0 + 6,
                                                   (60.0,), ttl=86400)], T0 + 6)).values
        assert counts == (6,)  # acct:0..4 plus acct:9, all in Redis

        server.kill()
        server.wait()
        outcomes = []
        for i in range(10, 30):  # traffic keeps flowing while Redis is gone
            start = time.monotonic()
            result = await store.exchange(request_ops(i, T0 + i), T0 + i)
            outcomes.append((result.degraded, time.monotonic() - start, len(result.values)))
        assert all(degraded for degraded, _, _ in outcomes)
        assert all(n == 7 for _, _, n in outcomes)
        # each call is bounded by the timeout (with slack for a loaded machine)
        assert max(elapsed for _, elapsed, _ in outcomes) < 2.0
        assert store.breaker.state == OPEN
        assert fallback.exchange_sync([Get("sess:s1#birth")], T0 + 30).values == ["born"]

        server = start_redis(port)  # same port, empty server
        await asyncio.sleep(0.6)  # past breaker_reset_s: the next call probes
        result = await store.exchange(request_ops(40, T0 + 40), T0 + 40)
        assert result.degraded is False
        assert store.breaker.state == CLOSED
        # state now lives in the fresh Redis again: the birth record is new there
        assert result.values[3] is None
        result = await store.exchange([Get("sess:s1#birth")], T0 + 41)
        assert result.values == ["born"] and result.degraded is False
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
        assert results[-1].values[4] == "born"  # answered from local state
        assert store.degraded_exchanges == 5
    finally:
        await store.close()


async def test_large_sets_match_memory_through_growth_trim_expiry_and_kind_changes():
    """Sets past the small-set size live as sorted sets; results stay those of the memory backend."""
    client = await local_redis()
    prefix = f"gwtest-{uuid.uuid4().hex[:12]}"
    store = RedisStore(State(backend="redis", url=LOCAL_URL, prefix=prefix, timeout_ms=2000.0))
    reference = MemoryStore()
    rng = random.Random(11)
    keys = [f"big:{i}#m" for i in range(3)]
    many = tuple(float(w) for w in (5, 30, 60, 120, 300, 600))  # more windows than ZCOUNT calls are spent on
    now = T0
    zset_steps = 0
    try:
        for step in range(160):
            now += rng.choice([0.0, 0.5, 2.0, 7.0])
            if step == 120:
                now += 1000.0  # everything expires
            batch = []
            for _ in range(rng.randint(1, 5)):
                key = rng.choice(keys)
                roll = rng.random()
                if roll < 0.95:
                    ts = now - rng.choice([0.0, 0.0, 1.0, 40.0])
                    windows = many if rng.random() < 0.5 else (10.0, 100.0)
                    batch.append(Distinct(key, f"m{rng.randrange(60)}", ts, windows, ttl=200.0,
                                          cap=rng.choice([40, 40, 25])))
                elif roll < 0.96:
                    batch.append(Distinct(key, f"m{rng.randrange(60)}", now, (10.0,), ttl=200.0, cap=0))
                elif roll < 0.97:
                    batch.append(Put(key, "p", ttl=30.0))
                elif roll < 0.98:
                    batch.append(Append(key, 1.5, ttl=30.0, maxlen=2))
                else:
                    batch.append(Get(key))
            expected = (await reference.exchange(batch, now)).values
            result = await store.exchange(batch, now)
            assert result.degraded is False
            assert result.values == expected, f"step {step}: {batch}"
            for i in range(3):
                zset_steps += (await client.type(f"{prefix}:{{big:{i}}}:m")) == b"zset"
        assert zset_steps > 50  # the sorted-set path was exercised, not only the small-set one
    finally:
        await store.close()
        found = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if found:
            await client.delete(*found)
        await client.aclose()
