"""Evidence for the model: rules alone against rules plus model, on the same held-out traffic.

``compare_decisions`` takes the decision lines of two replays of the same
traffic (one without a model, one with) and reports precision and
false-positive rate overall and per benign persona, recall per abuse family
and evasion level, and the requests whose outcome the model changed.
``evaluate_model`` runs both replays through the serving engine;
``evaluate_main`` is the command line for either.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gateway.model.errors import ModelError
from gateway.offline.summary import Confusion, flagged


def _outcomes(lines: Iterable[dict[str, Any]]) -> dict[str, tuple[bool, str, dict[str, Any]]]:
    """id -> (stopped, label, meta) for every labelled protected decision."""
    out = {}
    for d in lines:
        label = d.get("label")
        if label not in ("abuse", "benign") or d.get("explain", "").startswith(("unprotected", "token endpoint")):
            continue
        out[str(d["id"])] = (flagged(d["decision"], d["enforced"]), label, d.get("meta") or {})
    return out


def _group_key(label: str, meta: dict[str, Any]) -> tuple[str, str]:
    if label == "abuse":
        return "abuse", f"{meta.get('family', '-')}/{meta.get('evasion', '-')}"
    return "benign", str(meta.get("persona", "-"))


def compare_decisions(rules_only: Iterable[dict[str, Any]], with_model: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Compare two replays of the same traffic; decisions are matched by request id."""
    before, after = _outcomes(rules_only), _outcomes(with_model)
    missing = before.keys() ^ after.keys()
    if missing:
        raise ModelError(f"the two replays cover different requests ({len(missing)} ids differ, e.g. "
                         f"{sorted(missing)[0]!r}); replay the same traffic file twice")
    overall = {"rules": Confusion(), "rules+model": Confusion()}
    groups: dict[tuple[str, str], dict[str, Confusion]] = {}
    changes = {"abuse newly stopped": 0, "abuse no longer stopped": 0,
               "benign newly stopped": 0, "benign no longer stopped": 0}
    for rid, (hit0, label, meta) in before.items():
        hit1 = after[rid][0]
        overall["rules"].add(label, hit0)
        overall["rules+model"].add(label, hit1)
        g = groups.setdefault(_group_key(label, meta), {"rules": Confusion(), "rules+model": Confusion()})
        g["rules"].add(label, hit0)
        g["rules+model"].add(label, hit1)
        if hit0 != hit1:
            changes[f"{label} {'newly' if hit1 else 'no longer'} stopped"] += 1
    return {
        "overall": {k: c.as_dict() for k, c in overall.items()},
        "abuse": {name: {k: c.as_dict() for k, c in g.items()} for (kind, name), g in sorted(groups.items())
                  if kind == "abuse"},
        "benign": {name: {k: c.as_dict() for k, c in g.items()} for (kind, name), g in sorted(groups.items())
                   if kind == "benign"},
        "changes": changes,
    }


def verdict_on_careful(result: dict[str, Any]) -> str:
    """One honest sentence: did the model raise recall at careful evasion without costing precision?"""
    def total(level: str, run: str) -> tuple[int, int]:
        rows = [g[run] for name, g in result["abuse"].items() if name.endswith("/" + level)]
        return sum(r["tp"] for r in rows), sum(r["abuse"] for r in rows)

    tp0, n = total("careful", "rules")
    tp1, _ = total("careful", "rules+model")
    p0, p1 = result["overall"]["rules"]["precision"], result["overall"]["rules+model"]["precision"]
    if not n:
        return "no careful-evasion abuse in this traffic: nothing to conclude"
    gained = tp1 > tp0
    kept = p1 is not None and (p0 is None or p1 >= p0)
    recall = f"careful recall {tp0 / n:.2%} -> {tp1 / n:.2%}"
    precision = f"precision {_pct(p0)} -> {_pct(p1)}"
    if gained and kept:
        return f"the model raises recall at careful evasion without lowering precision ({recall}; {precision})"
    if gained:
        return f"the model raises careful recall but LOWERS precision ({recall}; {precision})"
    return f"the model does NOT raise recall at careful evasion ({recall}; {precision})"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def format_markdown(result: dict[str, Any], title: str = "Rules alone vs rules + model") -> str:
    o0, o1 = result["overall"]["rules"], result["overall"]["rules+model"]
    lines = [f"## {title}", "", verdict_on_careful(result) + ".", "",
             "| | rules | rules + model |", "|---|---:|---:|",
             f"| precision | {_pct(o0['precision'])} | {_pct(o1['precision'])} |",
             f"| recall | {_pct(o0['recall'])} | {_pct(o1['recall'])} |",
             f"| false-positive rate | {_pct(o0['fpr'])} | {_pct(o1['fpr'])} |",
             "", "| abuse family / evasion | actions | recall, rules | recall, rules + model |", "|---|---:|---:|---:|"]
    for name, g in result["abuse"].items():
        lines.append(f"| {name} | {g['rules']['abuse']} | {_pct(g['rules']['recall'])} | {_pct(g['rules+model']['recall'])} |")
    lines += ["", "| benign persona | actions | FPR, rules | FPR, rules + model |", "|---|---:|---:|---:|"]
    for name, g in result["benign"].items():
        lines.append(f"| {name} | {g['rules']['benign']} | {_pct(g['rules']['fpr'])} | {_pct(g['rules+model']['fpr'])} |")
    lines += ["", "Changed by the model: " + ", ".join(f"{k} {v}" for k, v in result["changes"].items()) + "."]
    return "\n".join(lines) + "\n"


async def evaluate_model(settings, traffic: list[str], model_path: str | Path) -> dict[str, Any]:
    """Replay ``traffic`` through the serving engine without and with the model, and compare."""
    from gateway.frontdoors.replay import Problems, decide_records, read_records, replay_settings
    from gateway.model.scorer import Scorer

    Scorer.load(model_path)  # refuse a bad artifact before replaying anything
    runs = []
    for model in (None, str(Path(model_path).resolve())):
        run_settings = dataclasses.replace(replay_settings(settings), model=model)
        outs = []
        async for _, out, protected in decide_records(run_settings, read_records(traffic, strict=False, problems=Problems())):
            if protected:
                outs.append(out)
        runs.append(outs)
    return compare_decisions(runs[0], runs[1])


def _read_decisions(path: str) -> list[dict[str, Any]]:
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    raise ModelError(f"{path}:{n}: not valid JSON ({type(exc).__name__})") from None
                if not isinstance(obj, dict) or "id" not in obj or not isinstance(obj.get("decision"), str) \
                        or not isinstance(obj.get("explain", ""), str):
                    raise ModelError(f"{path}:{n}: not a replay decision line (needs id, a decision and text explain)")
                obj.setdefault("enforced", False)
                rows.append(obj)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not rows:
        raise ModelError(f"{path}: no decision lines; give the output of 'gateway replay --output'")
    return rows


def evaluate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gateway model-eval", description="compare rules alone with rules plus model")
    p.add_argument("--model", help="model artifact to evaluate (default: the shipped model)")
    p.add_argument("--config", help="gateway config (default: the embedded demo config)")
    p.add_argument("--scenario", default="holdout", help="simulator scenario to replay (default: holdout)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed (use one you did not train on)")
    p.add_argument("--input", help="replay records to use instead of simulating")
    p.add_argument("--rules-only", metavar="DECISIONS", help="decision lines of a replay without the model ...")
    p.add_argument("--with-model", metavar="DECISIONS", help="... and of the same traffic with it")
    p.add_argument("--markdown", help="also write the comparison as Markdown here")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = p.parse_args(argv)
    try:
        if args.rules_only or args.with_model:
            if not (args.rules_only and args.with_model):
                raise ModelError("give both --rules-only and --with-model decision files, or neither")
            result = compare_decisions(_read_decisions(args.rules_only), _read_decisions(args.with_model))
        else:
            result = asyncio.run(_simulate_and_evaluate(args))
    except ModelError as exc:
        print(f"gateway model-eval: {exc}", file=sys.stderr)
        return 2
    text = format_markdown(result)
    if args.markdown:
        try:
            Path(args.markdown).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"gateway model-eval: cannot write {args.markdown}: {exc.strerror}", file=sys.stderr)
            return 2
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


async def _simulate_and_evaluate(args) -> dict[str, Any]:
    from gateway.frontdoors.replay import load_config
    from gateway.model import DEFAULT_MODEL
    from gateway.settings import ConfigError

    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    if args.input:
        try:
            traffic = Path(args.input).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ModelError(f"{args.input}: cannot read it ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ModelError(f"{args.input}: not UTF-8 text (byte {exc.start})") from None
    else:
        from gateway.offline.scenarios import ScenarioError, build, get_scenario

        try:
            traffic = list(build(get_scenario(args.scenario), args.seed).lines())
        except ScenarioError as exc:
            raise ModelError(str(exc)) from None
    return await evaluate_model(settings, traffic, args.model or DEFAULT_MODEL)


if __name__ == "__main__":
    sys.exit(evaluate_main(sys.argv[1:]))
