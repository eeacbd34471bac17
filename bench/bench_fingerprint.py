"""How long the fingerprint step takes per request, on cache hits and misses.

    .venv/bin/python bench/bench_fingerprint.py

Uses the demo config (the fixture GeoIP databases through maxminddb's C
extension). Prints median and p99 microseconds per call for: a repeat client
(every cache warm), a new client IP each call (GeoIP and prefix work), a raw
uncached GeoIP lookup over the four databases, and the User-Agent parse on a
miss.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from gateway.demo.tls import DEMO_TLS as KNOWN_TLS
from gateway.facts import RequestFacts
from gateway.fingerprint import Fingerprinter
from gateway.fingerprint.user_agent import UserAgentParser
from gateway.settings import REPO_ROOT, load_settings

ROUNDS = 20_000


def measure(label: str, calls: list[Callable[[], object]]) -> None:
    samples = []
    clock = time.perf_counter_ns
    for call in calls:
        start = clock()
        call()
        samples.append(clock() - start)
    samples.sort()
    median = statistics.median(samples) / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    print(f"{label:<44} median {median:6.2f} us   p99 {p99:6.2f} us   ({len(samples)} calls)")


def main() -> None:
    settings = load_settings(REPO_ROOT / "gateway" / "demo" / "config.yaml")
    fingerprinter = Fingerprinter(settings)
    headers = {
        "x-forwarded-for": "100.64.3.4",
        "user-agent": "Engage/412.0.1 (Android 14; Pixel 8; en_US)",
        "accept": "application/json",
        "accept-language": "en-US",
        "x-device-id": "dev-123",
        "x-ja4": KNOWN_TLS["android_app"],
    }
    warm = RequestFacts(ts=0.0, method="POST", path="/v1/media/1/like", peer="127.0.0.1", headers=headers)
    fingerprinter.fingerprint(warm)
    measure("fingerprint, repeat client (cache hit)", [lambda: fingerprinter.fingerprint(warm)] * ROUNDS)

    def new_client(i: int) -> Callable[[], object]:
        h = {**headers, "x-forwarded-for": f"11.{1 + i % 12}.{(i >> 8) % 16}.{i % 256}"}
        f = RequestFacts(ts=0.0, method="POST", path="/v1/media/1/like", peer="127.0.0.1", headers=h)
        return lambda: fingerprinter.fingerprint(f)

    cold = Fingerprinter(settings)
    fingerprinter = cold
    measure("fingerprint, new client IP (GeoIP miss)", [new_client(i) for i in range(ROUNDS)])
    geo = cold.geoip
    measure("GeoIP lookup, 4 databases, uncached", [lambda ip=f"21.0.{i % 16}.{i % 256}": geo.lookup_uncached(ip) for i in range(ROUNDS)])
    parser = UserAgentParser(cache_size=1)
    uas = [f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.{i}.0 Safari/537.36" for i in range(ROUNDS)]
    measure("User-Agent parse, uncached", [lambda ua=ua: parser.parse(ua) for ua in uas])


if __name__ == "__main__":
    main()
