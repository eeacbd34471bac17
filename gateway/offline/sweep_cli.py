"""``gateway eval --sweep N``: run the worlds with progress, print the table, write the files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gateway.model.errors import ModelError
from gateway.offline.progress import Progress, note
from gateway.offline.sweep import (
    SweepSpec,
    _settings,
    combine,
    default_jobs,
    run_sweep,
    run_traffic,
)
from gateway.offline.sweep_report import format_table, write_outputs
from gateway.offline.world import WorldError
from gateway.policy.errors import PolicyError
from gateway.settings import ConfigError


def sweep_main(worlds: int, seed: int, config: str | None, rules: list[str] | None, out_dir: Path | None, *,
               jobs: int | None = None, progress: bool = False, max_hours: float | None = None) -> int:
    spec = SweepSpec(seed, config, tuple(rules) if rules else None, max_hours)
    began = time.perf_counter()
    try:
        _settings(spec)  # a bad config or rule path fails here, before any world runs
        jobs = jobs or default_jobs()
        note(f"sweep: {worlds} worlds (seed {seed}) in {min(jobs, worlds)} process(es) ...", enabled=progress)
        with Progress("sweep", enabled=progress, total=worlds, unit="worlds", every=1, mininterval=0.1) as bar:
            results = list(bar.counted(run_sweep(spec, worlds, jobs)))
        summary = combine(results)
        print(format_table(summary))
        if out_dir is not None:
            written = write_outputs(summary, out_dir)
            print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    except (ConfigError, PolicyError, ModelError, WorldError) as exc:
        print(f"gateway eval: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway eval: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"{worlds} worlds, {sum(w['records'] for w in summary['worlds'])} records in "
          f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0


def traffic_main(path: Path, config: str | None, rules: list[str] | None, out_dir: Path | None) -> int:
    """``gateway eval --traffic FILE``: labelled traffic replayed and held against the bar, as one world."""
    spec = SweepSpec(0, config, tuple(rules) if rules else None)
    began = time.perf_counter()
    try:
        summary = combine([run_traffic(spec, path)])
        print(format_table(summary, title="Labelled traffic replayed (one world):"))
        if out_dir is not None:
            written = write_outputs(summary, out_dir)
            print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    except (ConfigError, PolicyError, ModelError) as exc:
        print(f"gateway eval: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway eval: {exc.filename or path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{summary['worlds'][0]['records']} records in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0
