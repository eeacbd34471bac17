"""Redis state store: the decision cost on loopback, round trips counted, and the cost while Redis is down.

Run: .venv/bin/python bench/bench_redis.py [--url redis://127.0.0.1:6379/0] [--requests 3000]

Prints, in the terms of the targets:

1. Decision cost with Redis on loopback: the median of ``Engine.decide`` for
   protected requests (default rule packs, 200 sessions on 50 IPs acting on
   500 targets) with ``state.backend: redis``, against one plain pipelined
   round trip (a one-PING pipeline through redis-py) plus the same engine's
   median with the memory backend; the ratio (target <= 1.3). The three are
   measured interleaved, request by request, so machine load hits all alike;
   before each the event loop first runs what the last request left scheduled
   (the engines' admin recorder and notifier), which otherwise ran inside the
   next measurement: the PING, which then took up to ten times a round trip.
2. Round trips per protected request through a real Engine, counted twice:
   by the store and by the server (FCALL, EVALSHA and EVAL calls in INFO commandstats,
   on a private redis-server when one is installed; on ``--url`` otherwise,
   where other clients' scripts would inflate the server count).
3. The store alone: an 8-op exchange, one op per entity (bench_store.py's
   batch), on Redis and on memory, the server's own time per script call
   (on a private redis-server when one is installed), and the ratio.
4. With Redis down (a loopback port with nothing listening; a listener that
   accepts connections but never answers): the latency each exchange adds
   over the memory backend doing the same ops, paired request by request,
   p50/p99 while the breaker is closed and once it is open; for the open
   breaker also the CPU-time p99 and the network calls made (must be 0). On a
   shared machine a wall-clock p99 well above the CPU-time p99 is the process
   being descheduled, not the store waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(ROOT / "tests"))  # redis_support: the private redis-server the tests run
from bench_store import Population  # noqa: E402
from benchkit import APP_UA, percentile, python_pace  # noqa: E402
from redis_support import free_port, start_redis  # noqa: E402

from gateway.demo.app import DEMO_CONFIG, issue_token  # noqa: E402
from gateway.engine import Engine  # noqa: E402
from gateway.facts import RequestFacts  # noqa: E402
from gateway.settings import State, load_settings  # noqa: E402
from gateway.state.memory import MemoryStore  # noqa: E402
from gateway.state.redis_store import RedisStore  # noqa: E402

T0 = 1_700_000_000.0
UA = APP_UA


# -- 1. the decision ------------------------------------------------------------


def engine_settings(state: State):
    s = load_settings(DEMO_CONFIG)
    return dataclasses.replace(s, state=state, reload=False)


def protected_requests(n: int) -> list[RequestFacts]:
    now = time.time()
    rng = random.Random(7)
    tokens = [issue_token(f"user{i}", client_id="engage-android", device_id=f"dev{i}", now=now) for i in range(200)]
    ips = [f"100.64.{i // 250}.{i % 250 + 1}" for i in range(50)]
    out = []
    for i in range(n):
        t = rng.randrange(200)
        headers = {
            "authorization": f"Bearer {tokens[t]}", "user-agent": UA, "accept": "application/json",
            "accept-language": "en-US", "x-forwarded-for": ips[t % 50], "x-device-id": f"dev{t}",
        }
        out.append(RequestFacts(ts=now + i * 0.01, method="POST", path="/v1/media/m/like", peer="127.0.0.1",
                                headers=headers, action="like", target=f"m{rng.randrange(500)}"))
    return out


async def settle() -> None:
    """Let the event loop run the work decide() left scheduled off the request's path."""
    for _ in range(3):
        await asyncio.sleep(0)


async def ping(client: aioredis.Redis) -> float:
    start = time.perf_counter()
    async with client.pipeline(transaction=False) as pipe:
        pipe.ping()
        await pipe.execute()
    return time.perf_counter() - start


async def decision_cost(url: str, n: int) -> None:
    prefix = f"gwbench-{uuid.uuid4().hex[:8]}"
    shared = Engine(engine_settings(State(backend="redis", url=url, prefix=prefix, timeout_ms=1000.0)),
                    decision_log=False)
    local = Engine(engine_settings(State(backend="memory")), decision_log=False)
    client = aioredis.Redis.from_url(url)
    facts = protected_requests(n)
    await shared.start()
    await local.start()
    for f in facts[:300]:  # verify every token once, load the script, warm caches
        await shared.decide(f)
        await local.decide(f)
        await ping(client)
    on_redis, on_memory, trips, degraded = [], [], [], 0
    for f in facts[300:]:
        await settle()
        start = time.perf_counter()
        verdict = await shared.decide(f)
        on_redis.append(time.perf_counter() - start)
        degraded += verdict.degraded
        await settle()
        start = time.perf_counter()
        await local.decide(f)
        on_memory.append(time.perf_counter() - start)
        await settle()
        trips.append(await ping(client))
    await shared.close()
    await local.close()
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i:i + 500])
    await client.aclose()
    rt, mem, red = statistics.median(trips), statistics.median(on_memory), statistics.median(on_redis)
    print(f"decision cost ({len(on_redis)} protected requests, interleaved):")
    print(f"  one plain pipelined round trip (PING): median {rt * 1e6:.0f} us")
    print(f"  decide(), memory backend:             median {mem * 1e6:.0f} us")
    print(f"  decide(), Redis backend:              median {red * 1e6:.0f} us, p99 {percentile(on_redis, 0.99) * 1e6:.0f} us")
    print(f"  ratio Redis / (round trip + memory) = {red * 1e6:.0f} / ({rt * 1e6:.0f} + {mem * 1e6:.0f}) "
          f"= {red / (rt + mem):.2f} (target <= 1.3)")
    if degraded:
        print(f"  warning: {degraded} decisions were degraded (Redis failed during the bench)")


# -- 2. round trips through a real engine ----------------------------------------


def start_private_redis() -> tuple[subprocess.Popen, str] | None:
    if shutil.which("redis-server") is None:
        return None
    port = free_port()
    try:
        return start_redis(port), f"redis://127.0.0.1:{port}/0"
    except RuntimeError:
        return None


async def scripts_run(client: aioredis.Redis) -> tuple[int, int]:
    """Scripts the server ran (the state function, or the script where it runs so), and the microseconds in them."""
    stats = await client.info("commandstats")
    names = ("cmdstat_fcall", "cmdstat_evalsha", "cmdstat_eval")
    return (sum(int(stats.get(name, {}).get("calls", 0)) for name in names),
            sum(int(stats.get(name, {}).get("usec", 0)) for name in names))


async def round_trips(url: str, n: int) -> None:
    private = start_private_redis()
    where = "a private redis-server" if private else f"{url} (shared: the server count may include other clients)"
    url = private[1] if private else url
    prefix = f"gwbench-{uuid.uuid4().hex[:8]}"
    engine = Engine(engine_settings(State(backend="redis", url=url, prefix=prefix, timeout_ms=1000.0)),
                    decision_log=False)
    client = aioredis.Redis.from_url(url)
    facts = protected_requests(n)
    try:
        await engine.start()
        await engine.decide(facts[0])  # connects and loads the function library
        store = engine.store
        assert isinstance(store, RedisStore)
        before_store, before_server = store.round_trips, await scripts_run(client)
        for f in facts[1:]:
            await engine.decide(f)
        counted_store = store.round_trips - before_store
        after_server = await scripts_run(client)
        counted_server, server_us = after_server[0] - before_server[0], after_server[1] - before_server[1]
        await engine.close()
        print(f"round trips per protected request through Engine.decide ({n - 1} requests, {where}): "
              f"{counted_store / (n - 1):.3f} counted by the store, {counted_server / (n - 1):.3f} scripts run "
              f"by the server (target: exactly 1); the server's own time {server_us / max(1, counted_server):.0f} us "
              "a script")
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i:i + 500])
        await client.aclose()
        if private:
            private[0].kill()
            private[0].wait()


# -- 3. the store alone ---------------------------------------------------------------


def batches(n: int) -> list:
    population = Population(2_000, seed=3)
    out, ts = [], T0
    for _ in range(n):
        ts += 0.01
        out.append((population.request(population.rng.randrange(2_000), ts), ts))
    return out


async def store_cost(url: str, work: list) -> None:
    private = start_private_redis()
    url = private[1] if private else url
    prefix = f"gwbench-{uuid.uuid4().hex[:8]}"
    store = RedisStore(State(backend="redis", url=url, prefix=prefix, timeout_ms=1000.0))
    memory = MemoryStore()
    client = aioredis.Redis.from_url(url)
    on_redis, on_memory, trips = [], [], []
    for ops, now in work[:200]:
        await store.exchange(ops, now)
    for ops, now in work[200:]:
        start = time.perf_counter()
        await store.exchange(ops, now)
        on_redis.append(time.perf_counter() - start)
        start = time.perf_counter()
        memory.exchange_sync(ops, now)
        on_memory.append(time.perf_counter() - start)
        trips.append(await ping(client))
    stats = await client.info("commandstats")
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i:i + 500])
    await client.aclose()
    await store.close()
    if private:
        private[0].kill()
        private[0].wait()
    rt, mem, red = statistics.median(trips), statistics.median(on_memory), statistics.median(on_redis)
    server = stats.get("cmdstat_fcall", stats.get("cmdstat_evalsha", {})).get("usec_per_call")
    whose = "this bench's scripts" if private else "all clients' scripts averaged"
    print(f"store alone, {len(work[0][0])}-op exchange: Redis median {red * 1e6:.0f} us "
          f"(server time per script {server} us, {whose}), memory {mem * 1e6:.0f} us, "
          f"round trip {rt * 1e6:.0f} us; ratio {red / (rt + mem):.2f}")


# -- 4. Redis down --------------------------------------------------------------------


async def down(url: str, work: list, breaker_failures: int) -> tuple[list[float], list[float], int]:
    """Per exchange: the wall and CPU time added over a memory store doing the same ops; network calls made."""
    state = State(backend="redis", url=url, timeout_ms=50.0, breaker_failures=breaker_failures, breaker_reset_s=3600.0)
    store = RedisStore(state)
    twin = MemoryStore()
    added_wall, added_cpu = [], []
    trips_at_open = None
    for ops, now in work:
        if trips_at_open is None and store.breaker.state == "open":
            trips_at_open = store.round_trips
        wall, cpu = time.perf_counter(), time.process_time()
        result = await store.exchange(ops, now)
        wall_store, cpu_store = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        twin.exchange_sync(ops, now)
        added_wall.append(wall_store - (time.perf_counter() - wall))
        added_cpu.append(cpu_store - (time.process_time() - cpu))
        assert result.degraded
    await store.close()
    calls_while_open = store.round_trips - trips_at_open if trips_at_open is not None else -1
    return added_wall, added_cpu, calls_while_open


async def report_down(name: str, url: str, work: list) -> None:
    closed, _, _ = await down(url, work[:100], breaker_failures=10**9)  # never opens: every call tries
    opened, cpu, calls = await down(url, work, breaker_failures=3)
    opened, cpu = opened[3:], cpu[3:]  # after the 3 failures that open it
    print(f"redis down ({name}): added latency per request while the breaker is closed "
          f"p50 {percentile(closed, 0.5) * 1e3:.2f} ms, p99 {percentile(closed, 0.99) * 1e3:.2f} ms (target <= 60 ms); "
          f"once open p50 {percentile(opened, 0.5) * 1e6:.1f} us, p99 {percentile(opened, 0.99) * 1e6:.1f} us wall, "
          f"{percentile(cpu, 0.99) * 1e6:.1f} us CPU (target < 1 ms); network calls while open: {calls}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {python_pace()}")
    await decision_cost(args.url, args.requests + 300)
    await round_trips(args.url, 500)
    work = batches(args.requests)
    await store_cost(args.url, work)
    await report_down("nothing listening", f"redis://127.0.0.1:{free_port()}/0", work[:500])
    # a listener that completes the TCP handshake (kernel backlog) but never reads or answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1024)
    try:
        await report_down("accepts, never answers", f"redis://127.0.0.1:{silent.getsockname()[1]}/0", work[:500])
    finally:
        silent.close()


if __name__ == "__main__":
    asyncio.run(main())
