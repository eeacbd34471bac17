"""``gateway replay``: recorded traffic through the serving engine, on a virtual clock.

Each record is decided by the same ``Engine`` that serves (same config, rules,
model and state backend), with the clock set to the record's ``ts``. Token
endpoint records feed the engine the response the app gave, so sessions are
born as in production. One output line per input line, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from gateway.settings import ConfigError, Settings, load_settings
from gateway.sim.records import Record, RecordError, parse_record, to_facts
from gateway.sim.summary import Tally, format_summary

TOKEN_ACTION = "token"  # the route table's match kind for the token endpoint
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "demo" / "config.yaml"
_FATAL = 1
_USAGE = 2


class _Clock:
    """The engine's clock in replay: the timestamp of the record being decided."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass(slots=True)
class Malformed:
    line: int
    error: str


def read_records(lines: Iterable[str], *, strict: bool, problems: list[Malformed]) -> Iterator[Record]:
    """Parse lines into records; a bad line is recorded in ``problems`` and skipped, or raised if ``strict``."""
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield parse_record(text, n)
        except RecordError as exc:
            if strict:
                raise
            problems.append(Malformed(n, str(exc)))


def replay_settings(settings: Settings, rules: tuple[str, ...] | None = None) -> Settings:
    """The settings replay runs with: no reloading, and optionally another rule set."""
    changes: dict[str, Any] = {"reload": False}
    if rules is not None:
        changes["rules"] = tuple(str(Path(r).resolve()) for r in rules)
    return dataclasses.replace(settings, **changes)


async def decide_records(settings: Settings, records: Iterable[Record], *, features: bool = False
                         ) -> AsyncIterator[tuple[Record, dict[str, Any], bool]]:
    """Yield (record, output line, protected) for every record, deciding with a fresh engine."""
    from gateway.engine import Engine
    from gateway.responses import status_of

    clock = _Clock()
    engine = Engine(settings, clock=clock, record_features=features, decision_log=False)
    await engine.start()
    try:
        for rec in records:
            clock.now = rec.ts
            facts, hit = to_facts(rec, engine.match)
            app_status = rec.response.status if rec.response else 200
            if hit is None:
                yield rec, _passed(rec, app_status, "unprotected: no protected route or token endpoint matches"), False
                continue
            if hit.action == TOKEN_ACTION and hit.route is None:
                if rec.response is not None:
                    await engine.observe_response(facts, rec.response.status, rec.response.headers,
                                                  rec.response.body.encode())
                yield rec, _passed(rec, app_status, "token endpoint: session birth observed"), False
                continue
            verdict = await engine.decide(facts)
            out = {
                "id": rec.id, "ts": rec.ts, "decision": str(verdict.decision), "enforced": verdict.enforced,
                "status": status_of(verdict, hit.route, app_status), "risk": round(verdict.risk, 4),
                "score": None if verdict.score is None else round(verdict.score, 6),
                "rules": list(verdict.rules), "shadow_rules": list(verdict.shadow_rules),
                "explain": verdict.explain, "label": rec.label, "meta": rec.meta,
            }
            if features:
                out["features"] = verdict.features or {}
            yield rec, out, True
    finally:
        await engine.close()


def _passed(rec: Record, status: int, explain: str) -> dict[str, Any]:
    return {"id": rec.id, "ts": rec.ts, "decision": "allow", "enforced": False, "status": status, "risk": 0.0,
            "score": None, "rules": [], "shadow_rules": [], "explain": explain, "label": rec.label, "meta": rec.meta}


async def replay(settings: Settings, lines: Iterable[str], output: IO[str] | None = None, *,
                 features: bool = False, by: tuple[str, ...] = (), strict: bool = False,
                 keep: dict[str, tuple[str, bool, tuple[str, ...], Any]] | None = None) -> dict[str, Any]:
    """Replay ``lines`` and return the summary; write output lines to ``output`` when given.

    ``keep`` (when given) is filled with id -> (decision, enforced, rules, label) for diffs.
    """
    problems: list[Malformed] = []
    tally = Tally(by=by)
    dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
    async for rec, out, protected in decide_records(settings, read_records(lines, strict=strict, problems=problems),
                                                    features=features):
        tally.add(out, protected)
        if output is not None:
            output.write(dumps(out))
            output.write("\n")
        if keep is not None and protected:
            keep[rec.id] = (out["decision"], out["enforced"], tuple(out["rules"]), rec.label)
    tally.malformed = len(problems)
    summary = tally.as_dict()
    summary["malformed_lines"] = [{"line": p.line, "error": p.error} for p in problems[:100]]
    return summary


async def diff(settings: Settings, path: Path, other_rules: tuple[str, ...], *, by: tuple[str, ...] = (),
               strict: bool = False, output: IO[str] | None = None) -> dict[str, Any]:
    """Replay twice (fresh engines, the second with ``other_rules``) and compare per request."""
    before: dict[str, tuple[str, bool, tuple[str, ...], Any]] = {}
    after: dict[str, tuple[str, bool, tuple[str, ...], Any]] = {}
    with path.open(encoding="utf-8") as f:
        base = await replay(settings, f, output, by=by, strict=strict, keep=before)
    with path.open(encoding="utf-8") as f:
        other = await replay(replay_settings(settings, other_rules), f, None, by=by, strict=strict, keep=after)
    changes = []
    transitions: dict[str, int] = {}
    for rid, (d0, e0, r0, label) in before.items():
        d1, e1, r1, _ = after.get(rid, (d0, e0, r0, label))
        if (d0, e0) != (d1, e1):
            key = f"{d0}{'' if e0 else '(shadow)'} -> {d1}{'' if e1 else '(shadow)'}"
            transitions[key] = transitions.get(key, 0) + 1
            changes.append({"id": rid, "from": d0, "to": d1, "enforced": [e0, e1], "rules_before": list(r0),
                            "rules_after": list(r1), "label": label})
    rules = set(base["rule_hits"]) | set(other["rule_hits"])
    deltas = {r: {"before": base["rule_hits"].get(r, 0), "after": other["rule_hits"].get(r, 0),
                  "delta": other["rule_hits"].get(r, 0) - base["rule_hits"].get(r, 0)} for r in sorted(rules)}
    return {"before": base, "after": other, "changed": len(changes), "transitions": transitions,
            "rule_deltas": {r: d for r, d in deltas.items() if d["delta"]}, "changes": changes}


def replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway replay", description="Run recorded traffic through the engine.")
    p.add_argument("--config", help="the gateway config (default: the embedded demo config)")
    p.add_argument("--input", required=True, help="replay records, one JSON object a line, in time order")
    p.add_argument("--output", help="decisions, one JSON line per input line (default: none)")
    p.add_argument("--features", action="store_true", help="add the feature values to each decision line")
    p.add_argument("--by", nargs="+", action="extend", default=[], metavar="FIELD",
                   help="break labelled metrics down by these meta fields")
    p.add_argument("--diff", nargs="+", metavar="RULES", help="also replay with these rule files/folders and compare")
    p.add_argument("--diff-output", help="write every request whose decision changes here (JSON lines)")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed line instead of skipping it")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    return p


def load_config(path: str | None) -> Settings:
    if path:
        return load_settings(path)
    return load_settings(DEMO_CONFIG)


def replay_main(argv: list[str] | None = None) -> int:
    args = replay_parser().parse_args(argv)
    try:
        settings = replay_settings(load_config(args.config))
    except ConfigError as exc:
        print(f"gateway replay: {exc}", file=sys.stderr)
        return _USAGE
    source = Path(args.input)
    if not source.is_file():
        print(f"gateway replay: {source}: no such file; give the traffic file with --input", file=sys.stderr)
        return _USAGE
    out = None
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115
        if args.diff:
            result = asyncio.run(diff(settings, source, tuple(args.diff), by=tuple(args.by), strict=args.strict,
                                      output=out))
            summary = result["before"]
            if args.diff_output:
                with open(args.diff_output, "w", encoding="utf-8") as f:
                    for c in result["changes"]:
                        f.write(json.dumps(c) + "\n")
        else:
            with source.open(encoding="utf-8") as f:
                summary = asyncio.run(replay(settings, f, out, features=args.features, by=tuple(args.by),
                                             strict=args.strict))
            result = None
    except RecordError as exc:
        print(f"gateway replay: {source}: {exc} (the line is malformed; fix it or drop --strict to skip it)",
              file=sys.stderr)
        return _FATAL
    except ConfigError as exc:
        print(f"gateway replay: {exc}", file=sys.stderr)
        return _USAGE
    except OSError as exc:
        print(f"gateway replay: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return _USAGE
    except UnicodeDecodeError as exc:
        print(f"gateway replay: {source}: not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return _USAGE
    finally:
        if out is not None:
            out.close()
    for p in summary["malformed_lines"]:
        print(f"gateway replay: {source}: skipped {p['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result if result is not None else summary, indent=2, default=str), file=sys.stderr)
    else:
        print(format_summary(summary), file=sys.stderr)
        if result is not None:
            print(format_diff(result), file=sys.stderr)
    return 0


def format_diff(result: dict[str, Any], show: int = 20) -> str:
    lines = [f"diff: {result['changed']} requests change decision"]
    lines.extend(f"  {k}: {v}" for k, v in sorted(result["transitions"].items(), key=lambda kv: -kv[1]))
    if result["rule_deltas"]:
        lines.append("rule hits, before -> after:")
        lines.extend(f"  {r}: {d['before']} -> {d['after']} ({d['delta']:+d})" for r, d in result["rule_deltas"].items())
    for c in result["changes"][:show]:
        lines.append(f"  {c['id']}: {c['from']} -> {c['to']} (label {c['label']}; rules {c['rules_before']} -> {c['rules_after']})")
    if result["changed"] > show:
        lines.append(f"  ... {result['changed'] - show} more (--diff-output FILE writes them all)")
    return "\n".join(lines)
