"""How long a cloud-range lookup takes, against a MaxMind lookup in the same run.

    .venv/bin/python bench/bench_cloud_ranges.py

Writes an AWS-shaped ip-ranges.json of 10,000 IPv4 and 2,000 IPv6 random
prefixes (about AWS's size; nothing is downloaded), loads it as the gateway
does, and prints the load time, the merged table's size and memory, and the
median and p99 microseconds of a lookup (hit and miss, IPv4 and IPv6). The
baseline is one uncached lookup in the fixture ASN database through
maxminddb's C extension: the ratio says what the ranges add to a GeoIP miss.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import maxminddb

from gateway.fingerprint.cloud_ranges import CloudRanges
from gateway.settings import REPO_ROOT

V4, V6, ROUNDS = 10_000, 2_000, 20_000


def write_ranges(folder: Path, rng: random.Random) -> tuple[str, list[str], list[str]]:
    v4, v6 = [], []
    for _ in range(V4):
        length = rng.choice((16, 18, 20, 22, 24, 24, 26, 28))
        v4.append(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}/{length}")
    for _ in range(V6):
        v6.append(f"2600:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}::/{rng.choice((36, 40, 44, 48, 56))}")
    doc = {"syncToken": "0", "createDate": "2024-01-01-00-00-00",
           "prefixes": [{"ip_prefix": p, "region": "us-east-1", "service": "EC2"} for p in v4],
           "ipv6_prefixes": [{"ipv6_prefix": p, "region": "us-east-1", "service": "EC2"} for p in v6]}
    path = folder / "ip-ranges.json"
    path.write_text(json.dumps(doc))
    return str(path), v4, v6


def measure(lookup: Callable[[str], object], ips: list[str]) -> tuple[float, float]:
    clock = time.perf_counter_ns
    samples = []
    for i in range(ROUNDS):
        ip = ips[i % len(ips)]
        start = clock()
        lookup(ip)
        samples.append(clock() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path, v4, v6 = write_ranges(Path(tmp), rng)
        size = Path(path).stat().st_size
        start = time.perf_counter()
        ranges = CloudRanges([path])
        load_ms = (time.perf_counter() - start) * 1000
        tracemalloc.start()  # a second load, traced (tracing slows it): the memory it holds
        ranges = CloudRanges([path])
        _, peak = tracemalloc.get_traced_memory()
        held = tracemalloc.take_snapshot().statistics("filename")
        tracemalloc.stop()
    kept = sum(s.size for s in held) / 1e6
    print(f"{V4} IPv4 + {V6} IPv6 prefixes, {size / 1e6:.1f} MB of JSON: loaded in {load_ms:.0f} ms, "
          f"{ranges.intervals} disjoint intervals kept, {kept:.1f} MB held after load (peak {peak / 1e6:.1f} MB)")

    hits4 = [p.split("/")[0] for p in rng.sample(v4, 2000)]
    hits4 = [h for h in hits4 if ranges.provider(h)]
    misses4 = [f"{rng.randrange(224, 240)}.{rng.randrange(256)}.{rng.randrange(256)}.1" for _ in range(2000)]
    hits6 = [p.split("/")[0] + "1" for p in rng.sample(v6, 1000)]
    misses6 = [f"2a00:{rng.randrange(0x10000):x}::1" for _ in range(1000)]
    assert all(ranges.provider(ip) is None for ip in misses4 + misses6)

    reader = maxminddb.open_database(str(REPO_ROOT / "gateway" / "demo" / "geoip" / "fixture-asn.mmdb"),
                                     maxminddb.MODE_AUTO)
    asn_ips = [f"11.{rng.randrange(1, 13)}.{rng.randrange(16)}.{rng.randrange(256)}" for _ in range(2000)]
    base, base_p99 = measure(reader.get, asn_ips)
    print(f"{'baseline: one MaxMind ASN lookup (C extension)':<48} median {base:5.2f} us   p99 {base_p99:5.2f} us")
    for label, ips in (("cloud range, IPv4 hit", hits4), ("cloud range, IPv4 miss", misses4),
                       ("cloud range, IPv6 hit", hits6), ("cloud range, IPv6 miss", misses6)):
        median, p99 = measure(ranges.provider, ips)
        print(f"{label:<48} median {median:5.2f} us   p99 {p99:5.2f} us   {median / base:4.2f}x the baseline")
    reader.close()


if __name__ == "__main__":
    main()
