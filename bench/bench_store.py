"""Memory state store: cost per exchange and bytes per active session.

Run: .venv/bin/python bench/bench_store.py [--sessions 100000]

1. Cost of one exchange for a realistic request batch (~28 ops: the sharing,
   timing, travel, lockstep, birth and sticky-decision structures one
   protected request reads and writes), median and p99 over many requests on
   a store already holding a realistic population.
2. Bytes per session: tracemalloc-measured size of the store after N
   synthetic sessions (1.3 sessions per account, ~4 per IP), each with its
   birth record, a full 32-value timing list, a last-location string and its
   share of the per-IP, per-prefix and per-account sets; then again with one
   complete request per session on top (per-account counters, travel,
   lockstep, device and ASN sets).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc

from gateway.signals.memory import MemoryStore
from gateway.signals.store import Append, Distinct, Get, Incr, Op, Put, PutIfAbsent

T0 = 1_700_000_000.0
SHORT, LONG = (60.0, 3600.0), (3600.0, 86400.0)
DAY = 86400.0


class Population:
    """Who a synthetic session is: account, IP, prefix, ASN, device, targets."""

    def __init__(self, sessions: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.sessions = [f"s:{rng.getrandbits(64):016x}" for _ in range(sessions)]
        accounts = max(1, int(sessions / 1.3))
        self.account = [f"a:{rng.randrange(accounts)}" for _ in range(sessions)]
        self.ip = [f"ip:10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(4)}" for _ in range(sessions)]
        self.device = [f"d:{rng.getrandbits(48):012x}" for _ in range(sessions)]
        self.asn = [f"asn:{64500 + rng.randrange(2000)}" for _ in range(sessions)]
        self.targets = max(1, sessions // 2)

    def request(self, i: int, ts: float) -> list[Op]:
        """The ops of one protected request by session i at ts."""
        s, a, ip, dev, asn = self.sessions[i], self.account[i], self.ip[i], self.device[i], self.asn[i]
        prefix = "p:" + ip[3:].rsplit(".", 1)[0]
        target = f"t:{self.rng.randrange(self.targets)}"
        tls_ua = f"tu:{i % 97:02x}"
        return [
            Distinct(f"{ip}#accounts", a, ts, SHORT, DAY),
            Distinct(f"{ip}#sessions", s, ts, SHORT, DAY),
            Distinct(f"{prefix}#accounts", a, ts, SHORT, DAY),
            Distinct(f"{prefix}#sessions", s, ts, SHORT, DAY),
            Distinct(f"{asn}#accounts", a, ts, SHORT, DAY),
            Distinct(f"{dev}#accounts", a, ts, LONG, DAY),
            Distinct(f"{tls_ua}#accounts", a, ts, SHORT, DAY),
            Distinct(f"{a}#ips", ip, ts, LONG, DAY),
            Distinct(f"{a}#asns", asn, ts, LONG, DAY),
            Distinct(f"{a}#countries", "NL", ts, LONG, DAY),
            Distinct(f"{a}#devices", dev, ts, LONG, DAY),
            Distinct(f"{a}#sessions", s, ts, (900.0,), DAY),
            Append(f"{s}#ts", ts, DAY),
            Append(f"{a}#ts", ts, DAY),
            Get(f"{s}#birth"),
            Get(f"{s}#loc"),
            Put(f"{s}#loc", f"{ts:.3f}|52.37|4.89|mobile", DAY),
            Get(f"{a}#loc"),
            Put(f"{a}#loc", f"{ts:.3f}|52.37|4.89|mobile", DAY),
            Distinct(f"{target}#accounts", a, ts, (60.0,), 3600.0),
            Distinct(f"{target}#prefixes", prefix, ts, (60.0,), 3600.0),
            Incr(f"{target}#hosting", 0, 3600.0),
            Incr(f"{a}#m{int(ts // 60)}", 1, 60.0),
            Incr(f"{a}#h{int(ts // 3600)}", 1, 3600.0),
            Incr(f"{a}#d{int(ts // DAY)}", 1, DAY),
            Get(f"{a}#sticky"),
            Get(f"{s}#sticky"),
            Append(f"{a}#targets", target, 3600.0),
        ]

    def birth(self, i: int, ts: float) -> list[Op]:
        record = f"{ts:.3f}|{self.ip[i][3:]}|{self.asn[i][4:]}|mobile|NL|{self.device[i][2:]}|Instagram 309.1.0.41 Android|t13d1516h2_8daaf6152771"
        return [PutIfAbsent(f"{self.sessions[i]}#birth", record, 30 * DAY)]


def populate(store: MemoryStore, population: Population) -> float:
    """Give every session its birth and one request."""
    ts = T0
    for i in range(len(population.sessions)):
        ts += 0.01
        store.exchange_sync(population.birth(i, ts), ts)
        store.exchange_sync(population.request(i, ts), ts)
    return ts


def exchange_cost(sessions: int, requests: int) -> tuple[float, float, int]:
    population = Population(sessions)
    store = MemoryStore()
    ts = populate(store, population)
    batches = []
    for _ in range(requests):
        ts += 0.001
        batches.append((population.request(population.rng.randrange(sessions), ts), ts))
    timings = []
    clock = time.perf_counter_ns
    for ops, now in batches:
        start = clock()
        store.exchange_sync(ops, now)
        timings.append(clock() - start)
    timings.sort()
    return statistics.median(timings) / 1000, timings[int(len(timings) * 0.99)] / 1000, len(batches[0][0])


def session_core(population: Population, i: int, ts: float) -> list[Op]:
    """Per session: birth, a full 32-value timing list, last location, its share of sets."""
    s, a, ip = population.sessions[i], population.account[i], population.ip[i]
    prefix = "p:" + ip[3:].rsplit(".", 1)[0]
    ops: list[Op] = population.birth(i, ts)
    ops += [Append(f"{s}#ts", ts + k, DAY) for k in range(32)]
    ops += [
        Put(f"{s}#loc", f"{ts:.3f}|52.37|4.89|mobile", DAY),
        Distinct(f"{ip}#accounts", a, ts, SHORT, DAY),
        Distinct(f"{ip}#sessions", s, ts, SHORT, DAY),
        Distinct(f"{prefix}#accounts", a, ts, SHORT, DAY),
        Distinct(f"{a}#sessions", s, ts, (900.0,), DAY),
    ]
    return ops


def bytes_per_session(sessions: int, full: bool) -> tuple[float, int]:
    """tracemalloc size of the store after ``sessions`` sessions, per session.

    ``full``: every session also made one complete ~28-op request (per-account
    counters, travel, lockstep, device and ASN sets); otherwise only the core.
    """
    population = Population(sessions)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = MemoryStore()
    ts = T0
    for i in range(sessions):
        ts += 0.01
        store.exchange_sync(session_core(population, i, ts), ts)
        if full:
            store.exchange_sync(population.request(i, ts), ts)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return size / sessions, len(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--full-sessions", type=int, default=20_000)
    args = parser.parse_args()

    median_us, p99_us, ops = exchange_cost(min(args.sessions, 20_000), args.requests)
    print(f"memory exchange, {ops} ops/request: median {median_us:.1f} us, p99 {p99_us:.1f} us, "
          f"{median_us * 1000 / ops:.0f} ns/op")
    per_session, keys = bytes_per_session(args.sessions, full=False)
    print(f"{args.sessions} sessions, core (birth, 32-value timing list, last location, shares of "
          f"ip/prefix/account sets): {per_session:.0f} bytes/session ({per_session / 1024:.2f} KiB; "
          f"target <= 1 KiB), {keys} keys")
    full_sessions = min(args.sessions, args.full_sessions)
    per_session, keys = bytes_per_session(full_sessions, full=True)
    print(f"{full_sessions} sessions, core plus one full {ops}-op request each: "
          f"{per_session:.0f} bytes/session ({per_session / 1024:.2f} KiB), {keys} keys")


if __name__ == "__main__":
    main()
