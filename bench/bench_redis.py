"""Redis state store: cost per exchange on loopback, round trips, and cost while Redis is down.

Run: .venv/bin/python bench/bench_redis.py [--url redis://127.0.0.1:6379/0] [--requests 2000]

Prints:
- the median of one plain pipelined round trip (a one-PING pipeline);
- the median of a realistic exchange (the ~28-op request batch of
  bench_store.py) on Redis, the memory backend's cost for the same batches,
  and the ratio exchange / (round trip + memory cost);
- round trips per exchange, from the store's own count;
- with Redis down (a loopback port with nothing listening, and a loopback
  listener that accepts connections but never answers), the added latency
  per exchange at p50/p99 while the breaker is closed and after it opens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
import uuid

import redis.asyncio as aioredis

sys.path.insert(0, os.path.dirname(__file__))
from bench_store import Population  # noqa: E402

from gateway.settings import State  # noqa: E402
from gateway.signals.memory import MemoryStore  # noqa: E402
from gateway.signals.redis_store import RedisStore  # noqa: E402

T0 = 1_700_000_000.0


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def ping_round_trip(url: str, n: int) -> float:
    client = aioredis.Redis.from_url(url)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        async with client.pipeline(transaction=False) as pipe:
            pipe.ping()
            await pipe.execute()
        samples.append(time.perf_counter() - start)
    await client.aclose()
    return statistics.median(samples[n // 10:])


def batches(n: int) -> list:
    population = Population(2_000, seed=3)
    out, ts = [], T0
    for _ in range(n):
        ts += 0.01
        out.append((population.request(population.rng.randrange(2_000), ts), ts))
    return out


async def redis_exchange(url: str, work: list) -> tuple[float, float, int]:
    prefix = f"gwbench-{uuid.uuid4().hex[:8]}"
    store = RedisStore(State(backend="redis", url=url, prefix=prefix, timeout_ms=1000.0))
    samples = []
    degraded = 0
    for ops, now in work:
        start = time.perf_counter()
        result = await store.exchange(ops, now)
        samples.append(time.perf_counter() - start)
        degraded += result.degraded
    trips = store.round_trips
    keys = [k async for k in store._client.scan_iter(match=f"{prefix}:*", count=1000)]
    for i in range(0, len(keys), 500):
        await store._client.delete(*keys[i:i + 500])
    await store.close()
    if degraded:
        print(f"  warning: {degraded} exchanges were degraded (Redis failed during the bench)")
    return statistics.median(samples[len(samples) // 10:]), trips / len(work), len(work[0][0])


def memory_exchange(work: list) -> float:
    store = MemoryStore()
    samples = []
    for ops, now in work:
        start = time.perf_counter()
        store.exchange_sync(ops, now)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[len(samples) // 10:])


async def down_latency(url: str, work: list, breaker_failures: int) -> list[float]:
    state = State(backend="redis", url=url, timeout_ms=50.0, breaker_failures=breaker_failures, breaker_reset_s=3600.0)
    store = RedisStore(state)
    samples = []
    for ops, now in work:
        start = time.perf_counter()
        result = await store.exchange(ops, now)
        samples.append(time.perf_counter() - start)
        assert result.degraded
    await store.close()
    return samples


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def report_down(name: str, url: str, work: list, memory_s: float) -> None:
    closed = await down_latency(url, work[:100], breaker_failures=10**9)  # never opens: every call tries
    opened = (await down_latency(url, work, breaker_failures=3))[3:]  # after the 3 failures that open it
    added_closed = [s - memory_s for s in closed]
    added_open = [s - memory_s for s in opened]
    print(f"redis down ({name}): added latency while the breaker is closed "
          f"p50 {pct(added_closed, 0.5) * 1e3:.2f} ms, p99 {pct(added_closed, 0.99) * 1e3:.2f} ms (target <= 60 ms); "
          f"once open p50 {pct(added_open, 0.5) * 1e6:.1f} us, p99 {pct(added_open, 0.99) * 1e6:.1f} us (target < 1 ms)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    work = batches(args.requests)
    rt = await ping_round_trip(args.url, args.requests)
    mem = memory_exchange(work)
    exch, trips, ops = await redis_exchange(args.url, work)
    print(f"plain pipelined round trip (PING): median {rt * 1e6:.0f} us")
    print(f"memory backend, {ops} ops: median {mem * 1e6:.0f} us")
    print(f"redis exchange, {ops} ops: median {exch * 1e6:.0f} us; "
          f"ratio to (round trip + memory cost) {exch / (rt + mem):.2f} (target <= 1.3)")
    print(f"round trips per exchange: {trips:.3f}")

    await report_down("nothing listening", f"redis://127.0.0.1:{unused_port()}/0", work[:500], mem)
    # a listener that completes the TCP handshake (kernel backlog) but never reads or answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1024)
    try:
        await report_down("accepts, never answers", f"redis://127.0.0.1:{silent.getsockname()[1]}/0", work[:300], mem)
    finally:
        silent.close()


if __name__ == "__main__":
    asyncio.run(main())
