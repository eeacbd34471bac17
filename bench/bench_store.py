"""Memory state store: cost per exchange and bytes per active session.

Run: .venv/bin/python bench/bench_store.py [--sessions 100000]

1. Cost of one exchange for a realistic request batch (8 ops, one per
   entity: the session, its address, prefix, ASN, device and TLS+UA pair, its
   account, its target), median and p99 over many requests on a store already
   holding a realistic population.
2. Bytes per session: tracemalloc-measured size of the store after N
   synthetic sessions (1.3 sessions per account, ~4 per IP), each with its
   birth record, a full 32-value timing list, a last location and its share
   of its address, prefix and account records; then again with one complete
   request per session on top (ASN, device, TLS+UA and target records, the
   account's other kinds, slots and buckets). With each, the objects the
   cyclic garbage collector tracks because of the store (bench/bench_gc.py:
   what a full collection costs with a million sessions held).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc

from gateway.state.memory import MemoryStore
from gateway.state.store import TIMES_MAX, Account, Birth, Op, Session, Shared, Target

T0 = 1_700_000_000.0


class Population:
    """Who a synthetic session is: account, IP, prefix, ASN, device, targets."""

    def __init__(self, sessions: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.sessions = [f"{rng.getrandbits(64):016x}" for _ in range(sessions)]
        accounts = max(1, int(sessions / 1.3))
        self.account = [f"{rng.randrange(accounts)}" for _ in range(sessions)]
        self.ip = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(4)}" for _ in range(sessions)]
        self.device = [f"{rng.getrandbits(48):012x}" for _ in range(sessions)]
        self.asn = [f"{64500 + rng.randrange(2000)}" for _ in range(sessions)]
        self.targets = max(1, sessions // 2)

    @staticmethod
    def loc(ts: float) -> str:
        return f"{ts:.3f}|52.3700|4.8900|mobile"

    def request(self, i: int, ts: float) -> list[Op]:
        """The ops of one protected request by session i at ts."""
        s, a, ip, dev, asn = self.sessions[i], self.account[i], self.ip[i], self.device[i], self.asn[i]
        prefix = ip.rsplit(".", 1)[0]
        target = f"like:{self.rng.randrange(self.targets)}"
        loc = self.loc(ts)
        return [
            Session(f"s:{s}", "", loc),
            Shared(f"ip:{ip}", a, s),
            Shared(f"pfx:{prefix}", a, s),
            Shared(f"asn:{asn}/mobile", a, s),
            Shared(f"dev:{dev}", a, s),
            Shared(f"tu:{i % 97:02x}{i % 89:02x}", a, s),
            Account(f"a:{a}", (ip, prefix, s, "mobile", asn, "NL", dev, "engage-android", target, "", ""), loc),
            Target(f"t:{target}", f"{ts:.3f}|{a}|{prefix}|{asn}/mobile|0"),
        ]

    def birth(self, i: int, ts: float) -> list[Op]:
        record = (f"t|{ts:.3f}|{self.ip[i]}|{self.asn[i]}|mobile|NL|{self.device[i]}|android|"
                  "t13d1516h2_8daaf6152771|engage-android|5e8a1c")
        return [Birth(f"s:{self.sessions[i]}", record)]


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


def session_core(population: Population, store: MemoryStore, i: int, ts: float) -> None:
    """Per session: birth, a full timing list, last location, its share of its address, prefix and account."""
    s, a, ip = population.sessions[i], population.account[i], population.ip[i]
    prefix = ip.rsplit(".", 1)[0]
    store.exchange_sync(population.birth(i, ts), ts)
    for k in range(TIMES_MAX):
        store.exchange_sync([Session(f"s:{s}", "", population.loc(ts + k))], ts + k)
    store.exchange_sync([
        Shared(f"ip:{ip}", a, s), Shared(f"pfx:{prefix}", a, s),
        Account(f"a:{a}", (ip, prefix, s, "mobile", "", "", "", "", "", "", ""), population.loc(ts)),
    ], ts)


def bytes_per_session(sessions: int, full: bool) -> tuple[float, int, int]:
    """tracemalloc size of the store after ``sessions`` sessions, per session; keys; objects the GC tracks.

    ``full``: every session also made one complete request (ASN, device, TLS+UA
    and target records, the account's other kinds); otherwise only the core.
    """
    population = Population(sessions)
    gc.collect()
    tracked = len(gc.get_objects())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = MemoryStore()
    ts = T0
    for i in range(sessions):
        ts += 0.01
        session_core(population, store, i, ts)
        if full:
            store.exchange_sync(population.request(i, ts), ts)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    gc.collect()
    return size / sessions, len(store), len(gc.get_objects()) - tracked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--full-sessions", type=int, default=20_000)
    args = parser.parse_args()

    median_us, p99_us, ops = exchange_cost(min(args.sessions, 20_000), args.requests)
    print(f"memory exchange, {ops} ops/request (one per entity): median {median_us:.1f} us, "
          f"p99 {p99_us:.1f} us, {median_us * 1000 / ops:.0f} ns/op")
    per_session, keys, tracked = bytes_per_session(args.sessions, full=False)
    print(f"{args.sessions} sessions, core (birth, 32-value timing list, last location, shares of "
          f"ip/prefix/account records): {per_session:.0f} bytes/session ({per_session / 1024:.2f} KiB; "
          f"target <= 1 KiB), {keys} keys, {tracked} objects tracked by the cyclic GC")
    full_sessions = min(args.sessions, args.full_sessions)
    per_session, keys, tracked = bytes_per_session(full_sessions, full=True)
    print(f"{full_sessions} sessions, core plus one full {ops}-op request each: "
          f"{per_session:.0f} bytes/session ({per_session / 1024:.2f} KiB), {keys} keys, {tracked} objects tracked")


if __name__ == "__main__":
    main()
