"""The sweep's report: a table on stdout, and with --out a JSON file and an SVG chart."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from gateway.offline.priors import PRIORS
from gateway.svg import FONT, PAD, RIGHT, TOP, H, W

BAR_PRECISION = 0.995
BAR_PERSONA_FPR = 0.0005
BAR_RECALL = {0: 0.98, 1: 0.90, 2: 0.90, 3: 0.70}
EXAMPLE_FEATURES = 14  # feature values shown per example on stdout (all of them are in the JSON)


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _ok(good: bool) -> str:
    return "ok" if good else "FAIL"


def _level(key: str) -> int | None:
    tail = key.rsplit("/L", 1)[-1]
    return int(tail) if tail.isdigit() else None


def format_table(s: dict[str, Any], *, examples: int = 2, title: str | None = None) -> str:
    out: list[str] = []
    worlds = s["worlds"]
    out.append(title or f"Sweep of {len(worlds)} worlds drawn from the priors:")
    for w in worlds:
        out.append(f"  {w['label']}: {w['records']} records, {w['actions']} protected actions, "
                   f"precision {_pct(w['precision'])}")
    precs = [w["precision"] for w in worlds if w["precision"] is not None]
    worst_p = min(precs) if precs else None
    out.append(f"\nprecision of enforced stops, worst world: {_pct(worst_p)}  (bar >= {BAR_PRECISION:.1%}: "
               f"{_ok(worst_p is None or worst_p >= BAR_PRECISION)})")
    out.append(f"\nBenign personas: worst share of protected actions stopped over the sweep "
               f"(bar <= {BAR_PERSONA_FPR:.2%})")
    out.append(f"  {'persona':20} {'worst':>8} {'world':>5} {'stopped/actions':>16} {'median':>8} {'sticky':>6}  "
               f"bar   rules at the worst (worst share of the persona's actions)")
    for name, p in sorted(s["personas"].items(), key=lambda kv: (kv[1]["victim"], kv[0])):
        rules = ", ".join(f"{r} {_pct(v['worst_fpr'])} (w{v['world']})" for r, v in list(p["rules"].items())[:3])
        tag = name + (" *" if p["victim"] else "")
        out.append(f"  {tag:20} {_pct(p['worst_fpr'], 3):>8} {p['worst_world'] if p['worst_world'] is not None else '-':>5} "
                   f"{p['worst_stopped']:>7}/{p['worst_actions']:<8} {_pct(p['median_fpr'], 3):>8} {p['sticky']:>6}  "
                   f"{_ok(p['worst_fpr'] <= BAR_PERSONA_FPR):4}  {rules}")
    out.append("  * an abused account's owner acting on their own phone (benign actions, not a look-alike persona)")
    out.append("\nRules: worst share of all benign protected actions a rule stopped in one world; sticky pins")
    out.append(f"  {'rule':34} {'worst':>8} {'world':>5} {'benign':>7} {'abuse':>7} {'pinned':>7}  most hit persona")
    for name, r in sorted(s["rules"].items(), key=lambda kv: -kv[1]["worst_benign_fpr"]):
        pinned = f"{r['sticky_benign']}" + (f" (w{r['sticky_worst_world']})" if r["sticky_benign"] else "")
        out.append(f"  {name:34} {_pct(r['worst_benign_fpr'], 3):>8} {r['worst_world']:>5} {r['benign_stops']:>7} "
                   f"{r['abuse_stops']:>7} {pinned:>7}  {r['persona_most_hit'] or '-'}")
    out.append("\nRecall per abuse family and level (bar: L0 >= 98%, L1-2 >= 90%, L3 >= 70%; judged on the worst world)")
    out.append(f"  {'family/level':24} {'worst':>8} {'world':>5} {'median':>8} {'actions':>8}  bar")
    for key, f in s["families"].items():
        goal = BAR_RECALL.get(_level(key) or 0, 0.0)
        out.append(f"  {key:24} {_pct(f['worst_recall'], 1):>8} {f['worst_world']:>5} {_pct(f['median_recall'], 1):>8} "
                   f"{f['actions']:>8}  {_ok(f['worst_recall'] >= goal)}")
    shown = _examples(s["examples"], examples)
    if shown:
        out.append("\nFalse stops, examples (feature values; all of them in the JSON with --out):")
        out.extend(shown)
    return "\n".join(out)


def _examples(examples: list[dict[str, Any]], per_persona: int) -> list[str]:
    out, seen = [], {}
    for e in examples:
        if seen.get(e["persona"], 0) >= per_persona:
            continue
        seen[e["persona"]] = seen.get(e["persona"], 0) + 1
        feats = e.get("features") or {}
        named = [k for k in feats if k in (e.get("explain") or "")]  # the values the rule's explanation cites
        keys = (named + [k for k in feats if k not in named])[:EXAMPLE_FEATURES]
        values = ", ".join(f"{k}={_short(feats[k])}" for k in keys)
        out.append(f"  w{e['world']} {e['persona']}: {e['decision']} by {', '.join(e['rules'])}")
        out.append(f"      {e['explain'][:300]}")
        if values:
            out.append(f"      {values}")
    return out


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_outputs(s: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"priors": PRIORS, "bar": {"precision": BAR_PRECISION, "persona_fpr": BAR_PERSONA_FPR,
                                      "recall": {f"L{k}": v for k, v in BAR_RECALL.items()}}, **s}
    js = folder / "sweep.json"
    js.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    svg = folder / "sweep.svg"
    svg.write_text(bars_chart(s), encoding="utf-8")
    return [js, svg]


def bars_chart(s: dict[str, Any]) -> str:
    """Two horizontal bar panels: worst FPR per benign persona (log-like scale) and worst recall per family/level."""
    left = [(n, p["worst_fpr"]) for n, p in s["personas"].items()]
    right = [(k, f["worst_recall"]) for k, f in s["families"].items()]
    rows = max(len(left), len(right), 1)
    row_h = FONT + 5
    height = max(H, TOP + 30 + rows * row_h + PAD)
    width = 2 * W
    top_fpr = max([v for _, v in left] + [BAR_PERSONA_FPR * 4])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="sweep: worst false-positive rate per persona, worst recall per family" '
             f'font-family="sans-serif" font-size="{FONT}">',
             f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="13">worst share stopped, per benign persona</text>',
             f'<text x="{W * 1.5}" y="14" text-anchor="middle" font-size="13">worst recall, per abuse family/level</text>']
    label_w, span = 150, RIGHT - 150 - 40
    for i, (name, v) in enumerate(left):
        y = TOP + 20 + i * row_h
        bar = span * min(v / top_fpr, 1.0) if top_fpr else 0
        colour = "#d1495b" if v > BAR_PERSONA_FPR else "#2b7bb9"
        parts.append(f'<text x="{label_w - 4}" y="{y + FONT - 2}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(bar, 1):.1f}" height="{FONT}" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + bar + 4:.1f}" y="{y + FONT - 2}">{100 * v:.3f}%</text>')
    x_bar = label_w + span * BAR_PERSONA_FPR / top_fpr
    parts.append(f'<line x1="{x_bar:.1f}" y1="{TOP + 14}" x2="{x_bar:.1f}" y2="{TOP + 20 + rows * row_h}" '
                 f'stroke="#333" stroke-dasharray="3,3"/>')
    for i, (key, v) in enumerate(right):
        y = TOP + 20 + i * row_h
        goal = BAR_RECALL.get(_level(key) or 0, 0.0)
        bar = span * v
        colour = "#2b7bb9" if v >= goal else "#d1495b"
        parts.append(f'<text x="{W + label_w - 4}" y="{y + FONT - 2}" text-anchor="end">{escape(key)}</text>')
        parts.append(f'<rect x="{W + label_w}" y="{y}" width="{max(bar, 1):.1f}" height="{FONT}" fill="{colour}"/>')
        parts.append(f'<line x1="{W + label_w + span * goal:.1f}" y1="{y - 1}" x2="{W + label_w + span * goal:.1f}" '
                     f'y2="{y + FONT + 1}" stroke="#333"/>')
        parts.append(f'<text x="{W + label_w + bar + 4:.1f}" y="{y + FONT - 2}">{100 * v:.1f}%</text>')
    parts.append("</svg>")
    return "\n".join(parts)
