"""Time the model scorer on full feature mappings: prints the median microseconds per score.

    .venv/bin/python bench/bench_model.py [--model PATH] [--features replay-output.jsonl]

Without --features the mappings are drawn at random from the feature catalogue
(every feature present, as the collector produces them), so the scorer pays for
every lookup it would make in production.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from gateway.model import DEFAULT_MODEL, Scorer
from gateway.signals import catalogue


def random_features(rng: random.Random) -> dict:
    values = {"string": lambda: rng.choice(["mobile", "residential", "hosting", "app", "like", "android"]),
              "bool": lambda: rng.random() < 0.3,
              "int": lambda: rng.randint(0, 50),
              "float": lambda: rng.uniform(0, 5000)}
    return {f.name: values[f.type]() for f in catalogue.all_features() if f.type in values and f.name != "model.score"}


def read_features(path: str, limit: int = 2000) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            if obj.get("features"):
                rows.append(obj["features"])
                if len(rows) >= limit:
                    break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--features", help="replay output written with --features (default: random mappings)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    scorer = Scorer.load(args.model)
    rng = random.Random(1)
    rows = read_features(args.features) if args.features else [random_features(rng) for _ in range(1000)]
    score = scorer.score
    for row in rows:  # warm up
        score(row)
    per_call = []
    for _ in range(args.rounds):
        began = time.perf_counter()
        for row in rows:
            score(row)
        per_call.append((time.perf_counter() - began) / len(rows) * 1e6)
    # The floor any scorer pays: fetching each model feature from the mapping once.
    names = scorer.feature_names

    def bare_lookups(row: dict) -> None:
        get = row.get
        for name in names:
            get(name)

    floor = []
    for _ in range(args.rounds):
        began = time.perf_counter()
        for row in rows:
            bare_lookups(row)
        floor.append((time.perf_counter() - began) / len(rows) * 1e6)
    features = len(rows[0]) if rows else 0
    print(f"model {args.model}: {len(scorer.feature_names)} model features; mappings of {features} features")
    print(f"score(): median {statistics.median(per_call):.2f} us per request "
          f"(min {min(per_call):.2f}, max {max(per_call):.2f}; {args.rounds} rounds x {len(rows)} mappings; budget 10 us)")
    base = statistics.median(floor)
    print(f"bare lookups of the same features: median {base:.2f} us; score() costs {statistics.median(per_call) / base:.1f}x that")


if __name__ == "__main__":
    main()
