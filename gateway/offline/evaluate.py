"""``gateway eval``: simulate a scenario, replay it through the engine, report detection quality."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from gateway.frontdoors.replay import decide_records, load_config, replay_settings
from gateway.model.errors import ModelError
from gateway.offline.progress import Progress, note, wanted
from gateway.offline.records import record_from_dict
from gateway.offline.report import Evaluation, evaluate, to_html, to_markdown
from gateway.offline.scenarios import SCENARIOS, ScenarioError, build, get_scenario
from gateway.offline.world import WorldError
from gateway.policy.errors import PolicyError
from gateway.settings import ConfigError, Settings

TRAFFIC_FILE = "traffic.jsonl"


async def run_evaluation(settings: Settings, scenario_name: str, seed: int, keep_traffic: Path | None = None, *,
                         progress: bool = False) -> Evaluation:
    """Generate, replay and evaluate; with ``keep_traffic``, also write the traffic to that file.

    With ``progress``, each stage says so on stderr and the replay shows a bar.
    """
    scenario = get_scenario(scenario_name)
    note(f"simulating scenario {scenario.name} (seed {seed}) ...", enabled=progress)
    traffic = build(scenario, seed)
    records = [record_from_dict(r, n) for n, r in enumerate(traffic.records(), 1)]
    if keep_traffic is not None:
        with keep_traffic.open("w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in traffic.lines())
    rows: list[dict[str, Any]] = []
    with Progress("replay", enabled=progress, total=len(records)) as bar:
        async for _, out, protected in decide_records(replay_settings(settings), bar.counted(records)):
            if protected:
                rows.append(out)
    ev = evaluate(rows, f"Detection quality on scenario '{scenario.name}' (seed {seed})")
    ev.notes.append(f"{scenario.description} {len(records)} records, {len(rows)} protected actions, "
                    f"{scenario.hours:g} virtual hours, networks: {scenario.split} split.")
    ev.notes.append("An action counts as stopped when the gateway enforced block, challenge, throttle or absorb.")
    return ev


def eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway eval", description="Simulate, replay and report detection quality.")
    p.add_argument("--config", help="the gateway config (default: the embedded demo config)")
    p.add_argument("--scenario", default="holdout", help=f"one of: {', '.join(SCENARIOS)}")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", metavar="FOLDER", help="write report.md and report.html into this folder")
    p.add_argument("--keep-traffic", action="store_true",
                   help=f"also write the simulated traffic into the --out folder as {TRAFFIC_FILE} (replay input, "
                        "some 100 MB for the holdout scenario)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (it is shown on stderr only when stderr is a terminal)")
    p.add_argument("--sweep", type=int, metavar="N",
                   help="instead of one scenario: N worlds drawn from the priors (--seed picks them), each replayed; "
                        "reports the worst world per benign persona and rule, recall per family and level; with "
                        "--out, sweep.json and sweep.svg")
    p.add_argument("--traffic", metavar="FILE",
                   help="instead of simulating: replay this labelled traffic (replay lines; .gz is read through gzip) "
                        "and hold it against the bar, with the sweep's table")
    p.add_argument("--rules", nargs="+", metavar="PATH",
                   help="--sweep, --traffic: replay with these rules instead of the config's")
    p.add_argument("--jobs", type=int, help="--sweep: worlds run in this many processes (default: up to 2)")
    p.add_argument("--max-hours", type=float, help="--sweep: cap each world's virtual hours (a quick look)")
    return p


def eval_main(argv: list[str] | None = None) -> int:
    parser = eval_parser()
    args = parser.parse_args(argv)
    if args.keep_traffic and not args.out:
        parser.error("--keep-traffic needs --out FOLDER to write the traffic into")
    out_dir = Path(args.out) if args.out else None
    if args.traffic is not None:
        from gateway.offline.sweep_cli import traffic_main

        return traffic_main(Path(args.traffic), args.config, args.rules, out_dir)
    if args.sweep is not None:
        if args.sweep < 1:
            parser.error("--sweep needs a number of worlds, 1 or more")
        from gateway.offline.sweep_cli import sweep_main

        return sweep_main(args.sweep, args.seed, args.config, args.rules, out_dir, jobs=args.jobs,
                          progress=wanted(sys.stderr, quiet=args.quiet), max_hours=args.max_hours)
    traffic = out_dir / TRAFFIC_FILE if out_dir is not None and args.keep_traffic else None
    try:
        settings = load_config(args.config)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        ev = asyncio.run(run_evaluation(settings, args.scenario, args.seed, traffic,
                                        progress=wanted(sys.stderr, quiet=args.quiet)))
        markdown = to_markdown(ev)
        if out_dir is not None:
            (out_dir / "report.md").write_text(markdown + "\n", encoding="utf-8")
            (out_dir / "report.html").write_text(to_html(ev), encoding="utf-8")
    except (ConfigError, ScenarioError, WorldError, PolicyError, ModelError) as exc:
        print(f"gateway eval: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway eval: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    print(markdown)
    if out_dir is not None:
        kept = f" and {traffic}" if traffic is not None else ""
        print(f"wrote {out_dir / 'report.md'}, {out_dir / 'report.html'}{kept}", file=sys.stderr)
    return 0
