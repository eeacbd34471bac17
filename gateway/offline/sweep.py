"""``gateway eval --sweep N``: N worlds drawn from the priors, each replayed through the engine.

Each world is generated, replayed with a fresh engine and reduced to counts
(per benign persona, per rule, per abuse family and level, sticky repeats)
and a few false stops with their feature values. ``combine`` then keeps, for
every persona and rule, the worst world: a rule that holds at one volume and
fails at another is fitted, and the worst world says where.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.frontdoors.replay import (
    Problems,
    decide,
    load_config,
    open_text,
    read_records,
    replay_settings,
)
from gateway.offline.priors import WorldDraw, draw
from gateway.offline.records import Record, record_from_dict
from gateway.offline.summary import flagged
from gateway.offline.wild import BENIGN_PERSONAS, build_world
from gateway.settings import Settings

EXAMPLES_PER_PERSONA = 3
# The abusive role's own phone actions are benign, but they belong to a victim, not a look-alike persona.
VICTIMS = ("sharing_customer", "ring_member", "leak_victim", "cyborg_owner", "theft_victim", "auto_liker_owner")


@dataclass(frozen=True, slots=True)
class SweepSpec:
    seed: int
    config: str | None = None
    rules: tuple[str, ...] | None = None
    max_hours: float | None = None  # cap each world's virtual hours (quick looks, tests)

    def world(self, index: int) -> WorldDraw:
        w = draw(self.seed, index)
        return dataclasses.replace(w, hours=min(w.hours, self.max_hours)) if self.max_hours else w


def _settings(spec: SweepSpec) -> Settings:
    return replay_settings(load_config(spec.config), spec.rules)


def run_world(spec: SweepSpec, index: int) -> dict[str, Any]:
    """Generate world ``index``, replay it and reduce it to counts (runs in a worker process)."""
    w = spec.world(index)
    traffic = build_world(w)
    records = [record_from_dict(r, n) for n, r in enumerate(traffic.records(), 1)]
    tally = WorldTally(w.label())
    tally.world = w.as_dict()
    _replay_into(tally, _settings(spec), records)
    return tally.as_dict()


def run_traffic(spec: SweepSpec, path: Path) -> dict[str, Any]:
    """Labelled traffic from a file (replay lines; .gz read through gzip), counted as one world of a sweep.

    Its personas are its own: only those with actions are reported.
    """
    problems = Problems()
    with open_text(path) as f:
        records = list(read_records(f, strict=False, problems=problems))
    tally = WorldTally(f"{path.name} ({len(records)} records, {problems.count} malformed lines skipped)")
    tally.world = {"index": 0, "file": str(path)}
    _replay_into(tally, _settings(spec), records)
    tally.personas = {name: p for name, p in tally.personas.items() if p["actions"]}
    return tally.as_dict()


def _replay_into(tally: WorldTally, settings: Settings, records: list[Record]) -> None:
    tally.records = len(records)

    async def go() -> None:
        async for rec, verdict, _, _ in decide(settings, records, features=True):
            if verdict is not None:
                tally.add(rec.label, rec.meta if isinstance(rec.meta, dict) else {}, str(verdict.decision),
                          verdict.enforced, list(verdict.rules), verdict.sticky, verdict.explain,
                          verdict.features)

    asyncio.run(go())


class WorldTally:
    """One world's protected actions, counted the ways the sweep reports them."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.world: dict[str, Any] = {}
        self.records = 0
        self.actions = 0
        self.overall = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
        self.personas: dict[str, dict[str, Any]] = {
            p: {"actions": 0, "stopped": 0, "rules": {}, "sticky": 0} for p in (*BENIGN_PERSONAS, *VICTIMS)}
        self.families: dict[str, dict[str, int]] = {}
        self.rules: dict[str, dict[str, int]] = {}
        self.examples: list[dict[str, Any]] = []

    def add(self, label: str | None, meta: dict[str, Any], decision: str, enforced: bool, rules: list[str],
            sticky: bool, explain: str, features: dict[str, Any] | None) -> None:
        self.actions += 1
        stop = flagged(decision, enforced)
        if label == "abuse":
            key = f"{meta.get('family', '-')}/L{meta.get('level', '-')}"
            fam = self.families.setdefault(key, {"actions": 0, "stopped": 0})
            fam["actions"] += 1
            fam["stopped"] += stop
            self.overall["tp" if stop else "fn"] += 1
        elif label == "benign":
            self.overall["fp" if stop else "tn"] += 1
            persona = str(meta.get("persona", "-"))
            p = self.personas.setdefault(persona, {"actions": 0, "stopped": 0, "rules": {}, "sticky": 0})
            p["actions"] += 1
            if stop:
                p["stopped"] += 1
                p["sticky"] += sticky
                for r in rules:
                    p["rules"][r] = p["rules"].get(r, 0) + 1
                shown = sum(1 for e in self.examples if e["persona"] == persona)
                if shown < EXAMPLES_PER_PERSONA and not sticky:
                    self.examples.append({"world": self.world.get("index"), "persona": persona,
                                          "account": meta.get("account"), "decision": decision, "rules": rules,
                                          "explain": explain, "features": features or {}})
        if stop:
            for r in rules:
                c = self.rules.setdefault(r, {"benign": 0, "abuse": 0, "sticky_benign": 0})
                if label == "abuse":
                    c["abuse"] += 1
                elif label == "benign":
                    c["benign"] += 1
                    c["sticky_benign"] += sticky

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "world": self.world, "records": self.records, "actions": self.actions,
                "overall": self.overall, "personas": self.personas, "families": self.families,
                "rules": self.rules, "examples": self.examples}


def run_sweep(spec: SweepSpec, worlds: int, jobs: int = 1) -> Iterator[dict[str, Any]]:
    """Each world's counts as it finishes; in ``jobs`` processes when more than one."""
    if jobs <= 1:
        for i in range(worlds):
            yield run_world(spec, i)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_world, spec, i) for i in range(worlds)]
        for f in as_completed(futures):
            yield f.result()


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


# -- combining worlds ------------------------------------------------------------------
def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The sweep's figures: worst (and median) over worlds per persona, rule, and family/level."""
    results = sorted(results, key=lambda r: r["world"]["index"])
    personas: dict[str, dict[str, Any]] = {}
    for name in {p for r in results for p in r["personas"]}:
        per = [(r["personas"].get(name, {}).get("stopped", 0), r["personas"].get(name, {}).get("actions", 0),
                r["world"]["index"], r["personas"].get(name, {})) for r in results]
        rates = [(s / a, s, a, i) for s, a, i, _ in per if a]
        worst = max(rates, default=(0.0, 0, 0, None), key=lambda x: (x[0], x[1]))
        rules: dict[str, dict[str, Any]] = {}
        for _, a, i, p in per:
            for rule, k in p.get("rules", {}).items():
                fpr = k / a if a else 0.0
                if rule not in rules or fpr > rules[rule]["worst_fpr"]:
                    rules[rule] = {"worst_fpr": fpr, "world": i, "stopped": k, "actions": a}
        personas[name] = {
            "victim": name in VICTIMS,
            "worst_fpr": worst[0], "worst_world": worst[3], "worst_stopped": worst[1], "worst_actions": worst[2],
            "median_fpr": statistics.median([x[0] for x in rates]) if rates else None,
            "actions": sum(a for _, a, _, _ in per), "stopped": sum(s for s, _, _, _ in per),
            "sticky": sum(p.get("sticky", 0) for *_, p in per),
            "rules": dict(sorted(rules.items(), key=lambda kv: -kv[1]["worst_fpr"])),
        }
    rules_out: dict[str, dict[str, Any]] = {}
    for name in {k for r in results for k in r["rules"]}:
        rows = []
        for r in results:
            benign = r["overall"]["fp"] + r["overall"]["tn"]
            c = r["rules"].get(name, {"benign": 0, "abuse": 0, "sticky_benign": 0})
            rows.append((_rate(c["benign"], benign) or 0.0, c, r["world"]["index"]))
        worst = max(rows, key=lambda x: x[0])
        top = max(personas.items(), key=lambda kv: kv[1]["rules"].get(name, {}).get("worst_fpr", 0.0))
        rules_out[name] = {
            "worst_benign_fpr": worst[0], "worst_world": worst[2],
            "benign_stops": sum(c["benign"] for _, c, _ in rows), "abuse_stops": sum(c["abuse"] for _, c, _ in rows),
            "sticky_benign": sum(c["sticky_benign"] for _, c, _ in rows),
            "sticky_worst_world": max(rows, key=lambda x: x[1]["sticky_benign"])[2],
            "persona_most_hit": top[0] if top[1]["rules"].get(name) else None,
        }
    families: dict[str, dict[str, Any]] = {}
    for key in {k for r in results for k in r["families"]}:
        rec = [(c["stopped"] / c["actions"], r["world"]["index"], c["actions"])
               for r in results if (c := r["families"].get(key)) and c["actions"]]
        worst = min(rec)
        families[key] = {"worst_recall": worst[0], "worst_world": worst[1],
                         "median_recall": statistics.median(x[0] for x in rec),
                         "actions": sum(x[2] for x in rec)}
    worlds = []
    for r in results:
        o = r["overall"]
        worlds.append({"index": r["world"]["index"], "label": r["label"], "records": r["records"],
                       "actions": r["actions"], "precision": _rate(o["tp"], o["tp"] + o["fp"]),
                       "fp": o["fp"], "tp": o["tp"], "params": r["world"]})
    return {"worlds": worlds, "personas": dict(sorted(personas.items())), "rules": dict(sorted(rules_out.items())),
            "families": dict(sorted(families.items())), "examples": [e for r in results for e in r["examples"]]}
