"""Replay throughput with the memory backend: records per second, and where the time goes.

    .venv/bin/python bench/bench_replay.py [--scenario tune] [--seed 1] [--limit N]

Prints: parse-only rate, full replay rate, and the share of replay time spent
inside the engine (decide + observe_response) versus reading/writing lines.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gateway.engine import Engine  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.sim.records import parse_record  # noqa: E402
from gateway.sim.replay import DEMO_CONFIG, replay, replay_settings  # noqa: E402
from gateway.sim.scenarios import build, get_scenario  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="tune")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="replay only the first N records")
    args = ap.parse_args()

    lines = [line + "\n" for line in build(get_scenario(args.scenario), args.seed).lines()]
    if args.limit:
        lines = lines[: args.limit]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.writelines(lines)
        path = f.name

    t0 = time.perf_counter()
    for n, line in enumerate(lines, 1):
        parse_record(line, n)
    parse_s = time.perf_counter() - t0

    # Time spent inside the engine, measured by wrapping its two entry points.
    inside = [0.0]
    for name in ("decide", "observe_response"):
        original = getattr(Engine, name)

        def timed(self, *a, _original=original, **k):  # type: ignore[no-untyped-def]
            async def run():  # type: ignore[no-untyped-def]
                s = time.perf_counter()
                try:
                    return await _original(self, *a, **k)
                finally:
                    inside[0] += time.perf_counter() - s
            return run()

        setattr(Engine, name, timed)

    settings = replay_settings(load_settings(DEMO_CONFIG))
    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        summary = asyncio.run(replay(settings, f, io.StringIO()))
    total_s = time.perf_counter() - t0
    os.unlink(path)
    n = len(lines)
    print(f"records: {n} ({summary['actions']} protected actions), scenario {args.scenario}")
    print(f"parse only:  {n / parse_s:,.0f} records/s")
    print(f"full replay: {n / total_s:,.0f} records/s ({total_s:.2f} s)")
    print(f"inside the engine: {inside[0] / total_s:.0%} of replay time "
          f"({n / inside[0]:,.0f} records/s if everything else were free)")


if __name__ == "__main__":
    main()
