"""Memory state store and the cyclic garbage collector: a full collection's pause with N sessions' state held.

Run: .venv/bin/python bench/bench_gc.py [--sessions 1000000] [--actions 2]

A realistic mix, seeded: every session is born at the token endpoint and
makes ``--actions`` requests (its session, address, /24, ASN, device and
TLS+UA pair, its account, the target it likes and that target's crowd):
60% phones behind carrier-NAT addresses shared by ~50 sessions, 40% home
lines of their own; 1.3 sessions per account; 2,000 ASNs; posts liked with a
long-tailed popularity. The store holds every session (``max_keys`` sized for
them). Then: the objects the cyclic GC tracks because of the store
(``len(gc.get_objects())`` before and after), and the wall time of full
(generation 2) collections, median and worst of five.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import python_pace  # noqa: E402

from gateway.state.memory import MemoryStore  # noqa: E402
from gateway.state.store import Account, Birth, Crowd, Session, Shared, Target  # noqa: E402

T0 = 1_767_225_600.0
UAS = 100  # TLS+UA pairs


class Population:
    """Who each session is, in arrays (a list of a million ints would itself cost a full collection tens of
    milliseconds); strings are built on use."""

    def __init__(self, sessions: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.sessions = sessions
        self.accounts = max(1, int(sessions / 1.3))
        self.mobile = bytes(rng.random() < 0.6 for _ in range(sessions))
        self.cgnat = max(1, sessions // 50)  # carrier addresses, ~50 sessions each
        self.place = array("q", (rng.randrange(self.cgnat) if mobile else rng.getrandbits(32)
                                 for mobile in self.mobile))
        self.account = array("q", (rng.randrange(self.accounts) for _ in range(sessions)))
        self.asn = array("q", (64500 + rng.randrange(2000) for _ in range(sessions)))
        self.posts = max(1, sessions // 2)

    def ip(self, i: int) -> str:
        p = self.place[i]
        if self.mobile[i]:
            return f"100.{64 + (p >> 16) % 64}.{(p >> 8) & 255}.{p & 255}"
        return f"{p >> 24}.{(p >> 16) & 255}.{(p >> 8) & 255}.{p & 255}"

    def birth(self, i: int, ts: float) -> list:
        return [Birth(f"s:sid-{i:08x}", f"t|{ts:.3f}|{self.ip(i)}|{self.asn[i]}|mobile|GB|d{i:07x}|android|"
                                         "t13d1516h2_8daaf6152771|engage-android|5e8a1c")]

    def request(self, i: int, ts: float) -> list:
        ip = self.ip(i)
        prefix = ip.rsplit(".", 1)[0]
        cls = "mobile" if self.mobile[i] else "residential"
        sid, account = f"sid-{i:08x}", f"user-{self.account[i]}"
        device = f"d{i:07x}"
        post = int(self.rng.paretovariate(1.2)) % self.posts
        target = f"like:post-{post}"
        loc = f"{ts:.3f}|51.5123|-0.1234|{cls}"
        return [
            Session(f"s:{sid}", "", loc, prefix, device, cls == "residential"),
            Shared(f"ip:{ip}", account, sid),
            Shared(f"pfx:{prefix}", account, sid),
            Shared(f"asn:{self.asn[i]}/{cls}", account, sid),
            Shared(f"dev:{device}", account, sid),
            Shared(f"tu:{i % UAS:02x}", account, sid),
            Account(f"a:{account}", (ip, prefix, sid, cls, str(self.asn[i]), "GB", device, "engage-android", target,
                                     "", ""), loc),
            Target(f"t:{target}", f"{ts:.3f}|{self.account[i]:08x}|{prefix}|{self.asn[i]}/{cls}|0"),
            Crowd(f"c:{target}", f"s:{sid}"),
        ]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def full_collections() -> list[float]:
    """Wall time of five full (generation 2) collections."""
    pauses = []
    for _ in range(5):
        start = time.perf_counter()
        gc.collect(2)
        pauses.append(time.perf_counter() - start)
    return pauses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=2, help="requests per session")
    args = parser.parse_args()
    population = Population(args.sessions)
    gc.collect()
    tracked_before, rss_before = len(gc.get_objects()), rss_mib()
    empty = full_collections()
    store = MemoryStore(max_keys=12 * args.sessions)  # room for every session's entities: nothing is evicted
    started = time.perf_counter()
    ts = T0
    for i in range(args.sessions):
        ts += 0.01
        store.exchange_sync(population.birth(i, ts), ts)
    rng = population.rng
    for _ in range(args.actions * args.sessions):
        ts += 0.01
        i = rng.randrange(args.sessions)
        store.exchange_sync(population.request(i, ts), ts)
    built = time.perf_counter() - started
    gc.collect()
    tracked = len(gc.get_objects()) - tracked_before
    pauses = full_collections()
    print(f"{args.sessions} sessions x {args.actions} requests: {len(store)} keys held, built in {built:.0f} s, "
          f"RSS +{rss_mib() - rss_before:.0f} MiB")
    print(f"  objects the cyclic GC tracks because of the store: {tracked} ({tracked_before} before it)")
    print(f"  full collection (generation 2): median {statistics.median(pauses) * 1000:.1f} ms, "
          f"worst {max(pauses) * 1000:.1f} ms   (target: <= 10 ms; before the store: median "
          f"{statistics.median(empty) * 1000:.1f} ms)")
    print(f"  {python_pace()}")


if __name__ == "__main__":
    main()
