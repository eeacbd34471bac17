"""Rule evaluation speed: prints figures, asserts nothing.

  .venv/bin/python bench/bench_rules.py

- a pack of 50 rules evaluated against one request's features: median and p99 us
- one typical condition vs. the same condition written as a Python lambda: ratio
- loading and compiling 1,000 rules from YAML: seconds
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from gateway.policy import RuleSet, compile_condition

# One request's features, as the collector would produce them (a like from a phone).
FEATURES: dict[str, object] = {
    "action": "like", "target": "m123", "account.id": "u42", "client_id": "android-app",
    "app.third_party": False, "app.first_party": True, "token.kind": "jwt", "token.age_s": 1800.0,
    "token.bound": False, "net.ip": "198.51.100.23", "net.prefix": "198.51.100.0/24",
    "net.class": "mobile", "net.asn": 64501, "net.as_org": "Example Mobile", "net.country": "DE",
    "net.anonymizer": False, "ua.family": "app", "ua.platform": "android", "ua.official_app": True,
    "tls.fingerprint": "t13d1516h2_8daaf6152771", "tls.platform": "android", "tls.consistent": True,
    "headers.missing": 0, "device.id": "d-9f2", "session.known": True, "session.age_s": 1800.0,
    "session.born_class": "mobile", "session.born_country": "DE", "session.device_changed": False,
    "session.ua_changed": False, "session.platform_changed": False, "session.tls_changed": False,
    "session.class_changed": False, "session.asn_changed": False, "session.country_changed": False,
    "session.client_changed": False, "ip.accounts_10m": 40, "ip.accounts_1h": 180, "ip.accounts_24h": 256,
    "ip.sessions_1h": 200, "prefix.accounts_1h": 256, "asn.accounts_1h": 256, "device.accounts_24h": 1,
    "tls_ua.accounts_1h": 256, "account.ips_24h": 3, "account.countries_24h": 1, "account.devices_24h": 1,
    "account.live_sessions": 1, "account.live_classes": 1, "account.live_prefixes": 1,
    "account.gaps": 31, "account.gap_cv": 1.8, "account.burstiness": 0.29, "account.regular_share": 0.12,
    "account.hour_entropy": 3.2, "account.actions_1m": 4, "account.actions_1h": 60, "account.actions_24h": 400,
    "session.speed_kmh": 3.0, "session.travel_km": 0.5, "session.travel_anonymized": False,
    "session.prev_class": "mobile", "account.speed_kmh": 3.0, "account.travel_km": 0.5,
    "account.travel_anonymized": False, "target.actions_5m": 12, "target.accounts_5m": 12,
    "target.anonymized_share_5m": 0.05, "target.top_prefix_share_5m": 0.1, "target.top_asn_share_5m": 0.3,
    "account.burst_targets_1h": 0, "account.burst_share_1h": 0.0, "model.score": 0.04,
}

# Ten shapes of condition, five variants each: 50 rules, all applying to "like".
SHAPES = [
    'net.class == "hosting" && ip.accounts_1h >= {n}',
    'net.class in ["hosting", "vpn"] && prefix.accounts_1h >= {n}',
    "session.known && session.device_changed && session.tls_changed && session.born_class == \"mobile\"",
    "account.gaps >= 20 && account.regular_share >= 0.{n} && account.hour_entropy >= 4.2",
    "device.accounts_24h >= {n}",
    "session.speed_kmh > 1000 && session.travel_km >= {n} && !session.travel_anonymized",
    "target.accounts_5m >= {n} && target.top_prefix_share_5m >= 0.5 && target.anonymized_share_5m >= 0.6",
    'ua.family in ["http-library", "automation"] && !(has(app.third_party) && app.third_party)',
    "ua.official_app && tls.consistent == false && net.anonymizer",
    "account.actions_1m >= {n} || account.burst_targets_1h >= 3 && account.burst_share_1h >= 0.5",
]


# The same ten shapes written by hand as Python functions: the baseline a pack is compared with.
def _by_hand(i: int):
    n = 20 + i % 7
    shapes = [
        lambda f: f.get("net.class") == "hosting" and (f.get("ip.accounts_1h") or 0) >= n,
        lambda f: f.get("net.class") in ("hosting", "vpn") and (f.get("prefix.accounts_1h") or 0) >= n,
        lambda f: f.get("session.known") is True and f.get("session.device_changed") is True
        and f.get("session.tls_changed") is True and f.get("session.born_class") == "mobile",
        lambda f: (f.get("account.gaps") or 0) >= 20 and (f.get("account.regular_share") or 0) >= n / 10
        and (f.get("account.hour_entropy") or 0) >= 4.2,
        lambda f: (f.get("device.accounts_24h") or 0) >= n,
        lambda f: (f.get("session.speed_kmh") or 0) > 1000 and (f.get("session.travel_km") or 0) >= n
        and f.get("session.travel_anonymized") is False,
        lambda f: (f.get("target.accounts_5m") or 0) >= n and (f.get("target.top_prefix_share_5m") or 0) >= 0.5
        and (f.get("target.anonymized_share_5m") or 0) >= 0.6,
        lambda f: f.get("ua.family") in ("http-library", "automation") and f.get("app.third_party") is not True,
        lambda f: f.get("ua.official_app") is True and f.get("tls.consistent") is False and f.get("net.anonymizer") is True,
        lambda f: (f.get("account.actions_1m") or 0) >= n or ((f.get("account.burst_targets_1h") or 0) >= 3
                                                            and (f.get("account.burst_share_1h") or 0) >= 0.5),
    ]
    return shapes[i % len(shapes)]


def pack_yaml(count: int) -> str:
    lines = ["thresholds: {challenge: 60, block: 100}", "rules:"]
    for i in range(count):
        shape = SHAPES[i % len(SHAPES)].format(n=20 + i % 7)
        lines += [
            f"  - id: rule-{i}",
            f"    description: benchmark rule {i}",
            "    on: [like, follow]",
            f"    when: '{shape}'",
            "    weight: 10" if i % 3 else "    action: block",
        ]
    return "\n".join(lines) + "\n"


def per_call_us(fn, calls: int) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        fn()
        samples.append((clock() - t0) / 1000)
    return samples


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "fifty.yaml").write_text(pack_yaml(50))
        fifty = RuleSet.load(folder / "fifty.yaml")
        big = folder / "thousand.yaml"
        big.write_text(pack_yaml(1000))
        load_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            thousand = RuleSet.load(big)
            load_times.append(time.perf_counter() - t0)
        assert len(thousand.rules) == 1000

    evaluate = fifty.evaluate
    for _ in range(2000):
        evaluate(FEATURES)
    gc.disable()
    samples = sorted(per_call_us(lambda: evaluate(FEATURES), 20000))
    gc.enable()
    median = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99)]
    hits = evaluate(FEATURES)
    hand = [_by_hand(i) for i in range(50)]
    samples = sorted(per_call_us(lambda: [fn for fn in hand if fn(FEATURES)], 20000))
    baseline = statistics.median(samples)
    print(f"50-rule pack, one request: median {median:.2f} us, p99 {p99:.2f} us "
          f"(target: median <= 15 us; {len(hits.rules)} rules matched)")
    print(f"  the same 50 conditions as hand-written Python functions in a loop: median {baseline:.2f} us "
          f"(pack / hand-written = {median / baseline:.2f}x)")

    condition = compile_condition('net.class == "hosting" && ip.accounts_1h >= 10').matches
    def written_by_hand(f):
        return f.get("net.class") == "hosting" and (f.get("ip.accounts_1h") or 0) >= 10
    hosting = dict(FEATURES, **{"net.class": "hosting", "ip.accounts_1h": 12})
    for name, features in (("matching", hosting), ("not matching", FEATURES)):
        assert condition(features) == written_by_hand(features)
        n = 200_000
        ours = min(timeit.repeat(lambda f=features: condition(f), number=n, repeat=5)) / n * 1e9
        base = min(timeit.repeat(lambda f=features: written_by_hand(f), number=n, repeat=5)) / n * 1e9
        print(f"typical condition ({name}): compiled {ours:.0f} ns, Python lambda {base:.0f} ns, "
              f"ratio {ours / base:.2f}x (target: <= 3x)")

    print(f"load + compile 1,000 rules: {min(load_times):.3f} s best of 3 (target: < 1 s)")


if __name__ == "__main__":
    main()
