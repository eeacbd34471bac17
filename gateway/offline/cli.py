"""``gateway simulate``: write a scenario's labelled traffic as replay records, or play it live."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

from gateway.offline.priors import draw
from gateway.offline.scenarios import SCENARIOS, ScenarioError, build, get_scenario
from gateway.offline.wild import build_world
from gateway.offline.world import WorldError


def simulate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway simulate", description="Generate labelled traffic in the replay format.")
    p.add_argument("--scenario", default="smoke", help=f"one of: {', '.join(SCENARIOS)}")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="where to write the JSON lines (default: stdout)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--world", type=int, metavar="N",
                   help="instead of a scenario: world N of the sweep drawn with --seed (gateway eval --sweep's worlds)")
    p.add_argument("--live", metavar="URL", help="send the traffic to a running gateway instead of writing it")
    p.add_argument("--concurrency", type=int, default=16, help="live: requests in flight at most")
    p.add_argument("--limit", type=int, default=5000, help="live: requests to send at most")
    p.add_argument("--allow-remote", action="store_true", help="live: allow a URL that is not a loopback address")
    return p


def simulate_main(argv: list[str] | None = None) -> int:
    args = simulate_parser().parse_args(argv)
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:28} {s.split:8} {s.hours:5.1f} h  {s.description}")
        return 0
    began = time.perf_counter()
    try:
        if args.world is not None:
            if args.world < 0 or args.live:
                raise ValueError("--world takes a world number, 0 or more, and writes traffic (not with --live)")
            what = f"sweep world {args.world}"
            traffic = build_world(draw(args.seed, args.world))
        else:
            scenario = get_scenario(args.scenario)
            if args.live:
                from gateway.offline.live import live_main

                return live_main(args.live, scenario, args.seed, concurrency=args.concurrency, limit=args.limit,
                                 allow_remote=args.allow_remote)
            what = f"scenario {scenario.name}"
            traffic = build(scenario, args.seed)
        n = _write(traffic.lines(), args.out)
    except (ScenarioError, WorldError, ValueError) as exc:
        print(f"gateway simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway simulate: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"{n} records of {what} (seed {args.seed}) in {time.perf_counter() - began:.1f} s"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def _write(lines: Iterable[str], path: str | None) -> int:
    """Write ``lines`` to ``path`` (stdout without one); how many."""
    out = open(path, "w", encoding="utf-8") if path else sys.stdout  # noqa: SIM115
    n = 0
    try:
        for line in lines:
            out.write(line)
            out.write("\n")
            n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    return n
