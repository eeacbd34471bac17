"""Replay throughput with the memory backend, and how much of it is replay's own work.

    .venv/bin/python bench/bench_replay.py [--scenario tune] [--seed 1] [--limit N] [--features] [--rounds 3]

Each round runs, each on a fresh engine and the same records:

- engine only: the records parsed and turned into request facts beforehand,
  then only ``Engine.decide`` (and ``observe_response`` for the token
  endpoint) timed, back to back. This is the floor replay cannot go below.
- full replay: ``replay()`` from the JSONL file to a decisions file, as
  ``gateway replay --output`` runs it (reading, parsing, validating, facts,
  the engine, encoding and writing lines, the summary).

Replay's own cost is the difference, per record. Times are CPU seconds of
this process (what "on one core" means; waiting for a shared core is not
counted), with wall-clock seconds beside them. The best round of each is
kept; the load average is printed with the figures.

A third run per round splits one full replay itself: the wall time inside
the engine's two calls (each wrapped in a timer, which costs a little) and
the rest. Both parts see the same neighbours at the same moments, so this
split moves less with the machine's load than the difference of two runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from benchkit import python_pace  # noqa: E402

from gateway.engine import Engine  # noqa: E402
from gateway.frontdoors.replay import (  # noqa: E402
    DEMO_CONFIG,
    fewer_collections,
    record_request,
    replay,
    replay_settings,
)
from gateway.offline.records import parse_record  # noqa: E402
from gateway.offline.scenarios import build, get_scenario  # noqa: E402
from gateway.settings import load_settings  # noqa: E402

TARGET = 10_000  # records/s on one core (issue 5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Timer:
    """CPU and wall-clock seconds from start to stop."""

    def __enter__(self) -> Timer:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall


async def engine_only(settings, lines: list[str], features: bool) -> Timer:
    """The time spent in the engine alone for these records."""
    clock = Clock()
    engine = Engine(settings, clock=clock, record_features=features, decision_log=False)
    await engine.start()
    work = []
    for n, line in enumerate(lines, 1):
        rec = parse_record(line, n)
        _, facts, hit, token = record_request(rec, engine.match)
        work.append((rec.ts, facts, hit, token))
    with Timer() as timer, fewer_collections():  # as replay collects
        for ts, facts, hit, token in work:
            clock.now = ts
            if hit is None:
                continue
            if token is not None:  # the token endpoint
                await engine.observe_response(facts, token.status, token.body)
            elif hit.route is not None:
                await engine.decide(facts)
    await engine.close()
    return timer


def full_replay(settings, source: str, sink: str, features: bool) -> tuple[Timer, dict]:
    with Timer() as timer, open(source, encoding="utf-8") as f, open(sink, "w", encoding="utf-8") as out:
        summary = asyncio.run(replay(settings, f, out, features=features))
    return timer, summary


def split_replay(settings, source: str, sink: str, features: bool) -> tuple[float, float]:
    """Wall seconds inside the engine's calls during one full replay, and in all the rest."""
    inside = [0.0]
    originals = {name: getattr(Engine, name) for name in ("decide", "observe_response")}

    def timed(original):  # type: ignore[no-untyped-def]
        async def call(self, *args):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return await original(self, *args)
            finally:
                inside[0] += time.perf_counter() - started
        return call

    for name, original in originals.items():
        setattr(Engine, name, timed(original))
    try:
        timer, _ = full_replay(settings, source, sink, features)
    finally:
        for name, original in originals.items():
            setattr(Engine, name, original)
    return inside[0], timer.wall - inside[0]


def best(timers: list[Timer]) -> tuple[float, float]:
    return min(t.cpu for t in timers), min(t.wall for t in timers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="tune")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="replay only the first N records")
    ap.add_argument("--features", action="store_true", help="replay with --features (feature values in every line)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each measurement; the best is kept")
    args = ap.parse_args()

    lines = [line + "\n" for line in build(get_scenario(args.scenario), args.seed).lines()]
    if args.limit:
        lines = lines[: args.limit]
    n = len(lines)
    settings = replay_settings(load_settings(DEMO_CONFIG))
    with tempfile.TemporaryDirectory() as tmp:
        source, sink = os.path.join(tmp, "traffic.jsonl"), os.path.join(tmp, "decisions.jsonl")
        with open(source, "w", encoding="utf-8") as f:
            f.writelines(lines)
        engine_runs, replay_runs, splits, summary = [], [], [], {}
        for _ in range(args.rounds):
            engine_runs.append(asyncio.run(engine_only(settings, lines, args.features)))
            timer, summary = full_replay(settings, source, sink, args.features)
            replay_runs.append(timer)
            splits.append(split_replay(settings, source, sink, args.features))

    (engine_cpu, engine_wall), (replay_cpu, replay_wall) = best(engine_runs), best(replay_runs)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rate = n / replay_cpu
    print(f"records: {n} ({summary['actions']} protected actions), scenario {args.scenario} seed {args.seed}"
          f"{', --features' if args.features else ''}; best of {args.rounds} rounds; load average {load}; {python_pace()}")
    print("               CPU us/record  records/s   (wall us/record)")
    for name, cpu, wall in (("engine only", engine_cpu, engine_wall), ("full replay", replay_cpu, replay_wall),
                            ("replay's own", replay_cpu - engine_cpu, replay_wall - engine_wall)):
        print(f"{name + ':':14} {cpu / n * 1e6:10.1f}  {n / cpu if cpu > 0 else float('inf'):10,.0f}   ({wall / n * 1e6:.1f})")
    print(f"replay's own work is {(replay_cpu - engine_cpu) / replay_cpu:.0%} of replay's CPU time; "
          f"replay runs at {engine_cpu / replay_cpu:.0%} of the engine-only rate")
    inside, rest = min(splits, key=sum)
    print(f"within one replay (wall, engine calls timed): engine {inside / n * 1e6:.1f} us/record, "
          f"replay's own {rest / n * 1e6:.1f} us/record ({rest / (inside + rest):.0%})")
    print(f"target {TARGET:,} records/s on one core: {'met' if rate >= TARGET else 'not met'} ({rate / TARGET:.2f}x)")


if __name__ == "__main__":
    main()
