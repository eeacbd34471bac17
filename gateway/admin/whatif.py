"""What a rule change would do: the recent requests of the facts ring, replayed under today's rules and a candidate.

The candidate pack (pasted YAML) is linted alone first; its errors come back
with their line and column. Then it is added to today's packs, or takes the
place of the one it names in ``replaces``, and both rule sets decide every
kept request on fresh engines (memory state, the requests' own clock), the
principal each request had when it was served standing in for its token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Any

from gateway.auth.principal import Principal
from gateway.facts import RequestFacts
from gateway.policy.loader import load_and_merge
from gateway.verdict import Verdict

CANDIDATE = "candidate.yaml"
MAX_YAML = 256 * 1024
_PLACE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$", re.S)


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def lint_errors(errors: list[str], path: Path) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        m = _PLACE.match(e)
        if m is None:
            out.append({"file": CANDIDATE, "line": 1, "col": 1, "message": e})
            continue
        name = CANDIDATE if m["file"] == str(path) else Path(m["file"]).name
        out.append({"file": name, "line": int(m["line"]), "col": int(m["col"]), "message": m["message"]})
    return out


def facts_of(entry: dict[str, Any]) -> RequestFacts:
    principal = Principal.from_dict(entry["principal"])
    return RequestFacts(ts=entry["ts"], method=entry["method"], path=entry["path"], peer=entry["peer"],
                        headers=entry["headers"], action=entry.get("action"), target=entry.get("target"),
                        query=entry.get("query", ""), extra={"principal": principal})


async def decide_all(settings: Any, rules: tuple[str, ...], facts: list[RequestFacts]) -> list[Verdict]:
    from gateway.engine import Engine

    replay = dataclasses.replace(
        settings, rules=rules, reload=False, state=dataclasses.replace(settings.state, backend="memory"),
        admin=dataclasses.replace(settings.admin, record=False))
    clock = _Clock()
    engine = Engine(replay, clock=clock, decision_log=False, metrics=False, given_principals=True)
    await engine.start()
    try:
        out = []
        for f in facts:
            clock.now = f.ts
            out.append(await engine.decide(f))
        return out
    finally:
        await engine.close()


def _replay_both(settings: Any, current: tuple[str, ...], rules: tuple[str, ...],
                 facts: list[RequestFacts]) -> tuple[list[Verdict], list[Verdict]]:
    async def both() -> tuple[list[Verdict], list[Verdict]]:
        return await decide_all(settings, current, facts), await decide_all(settings, rules, facts)

    return asyncio.run(both())


async def what_if(engine: Any, ring: list[dict[str, Any]], text: str, replaces: str | None) -> dict[str, Any]:
    """{"errors": [...]} when the candidate does not load, else the per-rule and per-person diff."""
    if len(text.encode()) > MAX_YAML:
        return {"errors": [{"file": CANDIDATE, "line": 1, "col": 1,
                            "message": f"the pack is larger than {MAX_YAML // 1024} KiB; paste one pack"}]}
    current = tuple(engine.rules.current.files)
    names = {Path(f).name: f for f in current}
    if replaces and replaces not in names:
        return {"errors": [{"file": CANDIDATE, "line": 1, "col": 1, "message":
                            f"replaces: {replaces!r} is not one of today's packs ({', '.join(sorted(names))})"}]}
    with tempfile.TemporaryDirectory(prefix="gateway-whatif-") as folder:
        path = Path(folder) / CANDIDATE
        path.write_text(text, encoding="utf-8")
        alone = load_and_merge([path])
        if alone.errors:
            return {"errors": lint_errors(alone.errors, path)}
        rules = tuple(f for f in current if Path(f).name != replaces) + (str(path),)
        merged = load_and_merge(list(rules))
        if merged.errors:
            errors = lint_errors(merged.errors, path)
            for e in errors:
                if "duplicate rule id" in e["message"]:
                    e["message"] += "; to change a rule of a pack, choose that pack under 'replaces'"
            return {"errors": errors}
        facts = [facts_of(e) for e in ring]
        if not facts:
            return {"errors": [], "requests": 0, "note": "no requests kept yet (admin.facts_ring): nothing to replay"}
        try:  # in a thread with its own loop: thousands of decisions must not stall the gateway's requests
            before, after = await asyncio.to_thread(_replay_both, engine.settings, current, rules, facts)
        except Exception as exc:  # noqa: BLE001 - a pack the engine refused at load names the place
            return {"errors": [{"file": CANDIDATE, "line": 1, "col": 1, "message": str(exc)}]}
    return compare(facts, before, after)


def compare(facts: list[RequestFacts], before: list[Verdict], after: list[Verdict]) -> dict[str, Any]:
    rules: dict[str, dict[str, int]] = {}

    def tally(v: Verdict, side: str) -> None:
        for rid in v.rules:
            rules.setdefault(rid, {"before": 0, "after": 0, "shadow_before": 0, "shadow_after": 0})[side] += 1
        for rid in v.shadow_rules:
            rules.setdefault(rid, {"before": 0, "after": 0, "shadow_before": 0, "shadow_after": 0})[
                "shadow_" + side] += 1

    newly: dict[str, dict[str, Any]] = {}
    released: dict[str, int] = {}
    changed = 0
    for f, b, a in zip(facts, before, after, strict=True):
        tally(b, "before")
        tally(a, "after")
        if (b.decision, b.enforced) != (a.decision, a.enforced):
            changed += 1
        who = f.extra["principal"].subject  # type: ignore[union-attr]
        if b.passes and not a.passes:
            p = newly.setdefault(who, {"account": who, "requests": 0, "rules": set(), "decisions": set()})
            p["requests"] += 1
            p["rules"].update(a.rules)
            p["decisions"].add(a.decision.value)
        elif not b.passes and a.passes:
            released[who] = released.get(who, 0) + 1
    people = [{**p, "rules": sorted(p["rules"]), "decisions": sorted(p["decisions"])} for p in newly.values()]
    per_rule = {r: {**c, "delta": c["after"] - c["before"]} for r, c in sorted(rules.items())}
    return {"errors": [], "requests": len(facts), "changed": changed,
            "stopped_before": sum(not v.passes for v in before), "stopped_after": sum(not v.passes for v in after),
            "rules": per_rule, "newly_stopped": sorted(people, key=lambda p: -p["requests"]),
            "released": [{"account": k, "requests": n} for k, n in sorted(released.items())]}
