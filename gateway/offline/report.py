"""The evaluation report: detection quality per persona, family, evasion level and campaign.

Built from replay output lines of protected actions; written as Markdown and
as an HTML page with inline SVG charts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from gateway.offline.personas import EVASIONS
from gateway.offline.summary import Confusion, flagged
from gateway.svg import curve, histogram

# The figures the project aims for (see the README's evaluation section).
TARGET_PRECISION = 0.99
TARGET_PERSONA_FPR = 0.001
TARGET_RECALL = {"crude": 0.95, "medium": 0.85, "careful": 0.60}
TARGET_CRUDE_FIRST_BLOCK = 5


@dataclass(slots=True)
class Campaign:
    id: str
    family: str
    evasion: str
    actions: int = 0
    stopped: int = 0
    first_block: int | None = None  # 1-based index of the first stopped action


@dataclass(slots=True)
class Evaluation:
    title: str
    overall: Confusion = field(default_factory=Confusion)
    personas: dict[str, Confusion] = field(default_factory=dict)
    families: dict[tuple[str, str], Confusion] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    rule_hits: dict[str, int] = field(default_factory=dict)
    risk: dict[str, list[float]] = field(default_factory=lambda: {"benign": [], "abuse": []})
    score: dict[str, list[float]] = field(default_factory=lambda: {"benign": [], "abuse": []})
    notes: list[str] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        label = row.get("label")
        if label not in ("abuse", "benign"):
            return
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        hit = flagged(row["decision"], row["enforced"])
        self.overall.add(label, hit)
        for r in row.get("rules", ()):
            self.rule_hits[r] = self.rule_hits.get(r, 0) + 1
        self.risk[label].append(float(row.get("risk") or 0.0))
        if row.get("score") is not None:
            self.score[label].append(float(row["score"]))
        if label == "benign":
            self.personas.setdefault(str(meta.get("persona", "-")), Confusion()).add(label, hit)
            return
        family, evasion = str(meta.get("family", "-")), str(meta.get("evasion", "-"))
        self.families.setdefault((family, evasion), Confusion()).add(label, hit)
        cid = str(meta.get("campaign", "-"))
        c = self.campaigns.setdefault(cid, Campaign(cid, family, evasion))
        c.actions += 1
        if hit:
            c.stopped += 1
            if c.first_block is None:
                c.first_block = c.actions

    def targets(self) -> list[tuple[str, bool]]:
        """Each documented figure, and whether this run reaches it."""
        out = []
        p = self.overall.precision
        out.append((f"precision of enforced stops >= {TARGET_PRECISION}", p is not None and p >= TARGET_PRECISION))
        worst = max(((c.fpr or 0.0), name) for name, c in self.personas.items()) if self.personas else (0.0, "-")
        out.append((f"false-positive rate <= {TARGET_PERSONA_FPR:.1%} for every benign persona (worst: {worst[1]})",
                    worst[0] <= TARGET_PERSONA_FPR))
        for ev, goal in TARGET_RECALL.items():
            c = Confusion()
            for (_, e), conf in self.families.items():
                if e == ev:
                    c.tp += conf.tp
                    c.fn += conf.fn
            if c.abuse:
                out.append((f"recall at {ev} evasion >= {goal:.0%}", (c.recall or 0.0) >= goal))
        if self.campaigns:
            out.append(("every campaign stopped", all(c.first_block is not None for c in self.campaigns.values())))
            crude = [c for c in self.campaigns.values() if c.evasion == "crude"]
            if crude:
                out.append((f"crude campaigns stopped within {TARGET_CRUDE_FIRST_BLOCK} actions",
                            all(c.first_block is not None and c.first_block <= TARGET_CRUDE_FIRST_BLOCK for c in crude)))
        return out


def evaluate(rows: Iterable[dict[str, Any]], title: str) -> Evaluation:
    ev = Evaluation(title)
    for row in rows:
        ev.add(row)
    return ev


def pr_points(risk: dict[str, list[float]]) -> list[tuple[float, float, float]]:
    """(threshold, recall, precision) at every distinct risk, highest first: stop every action with risk >= it.

    A point sits at the end of each group of equal risk: a threshold stops
    the whole group or none of it, so a point inside a group is no threshold.
    """
    scored = sorted([(r, 1) for r in risk["abuse"]] + [(r, 0) for r in risk["benign"]], reverse=True)
    total_abuse = len(risk["abuse"])
    if not scored or not total_abuse:
        return []
    out, tp, fp = [], 0, 0
    for i, (r, is_abuse) in enumerate(scored):
        tp += is_abuse
        fp += 1 - is_abuse
        if i + 1 == len(scored) or scored[i + 1][0] != r:
            out.append((r, tp / total_abuse, tp / (tp + fp)))
    return out


def pr_curve(risk: dict[str, list[float]], points: int = 120) -> list[tuple[float, float, float]]:
    """``pr_points``, thinned to at most ``points`` evenly spread ones, the highest and lowest threshold kept."""
    every = pr_points(risk)
    points = max(points, 2)
    if len(every) <= points:
        return every
    last = len(every) - 1
    return [every[round(k * last / (points - 1))] for k in range(points)]


def threshold_marks(risk: dict[str, list[float]], wants: tuple[float, ...] = (0.99, 0.9)
                    ) -> list[tuple[float, float, str]]:
    """(recall, precision, label) of the lowest threshold keeping precision >= each wanted figure."""
    every = pr_points(risk)
    marks = []
    for want in wants:
        good = [p for p in every if p[2] >= want]
        if good:
            t, r, p = max(good, key=lambda q: q[1])
            marks.append((r, p, f"risk >= {t:g}"))
    return marks


# --- rendering ---------------------------------------------------------------
def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def tables(ev: Evaluation) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, columns, rows) for every table, shared by Markdown and HTML."""
    o = ev.overall
    out = [("Overall", ["actions", "abuse", "benign", "precision", "recall", "false-positive rate"],
            [[str(o.abuse + o.benign), str(o.abuse), str(o.benign), _pct(o.precision), _pct(o.recall), _pct(o.fpr, 3)]])]
    out.append(("Targets", ["figure", "reached"], [[name, "yes" if ok else "**no**"] for name, ok in ev.targets()]))
    out.append(("False positives per benign persona", ["persona", "actions", "stopped", "false-positive rate"],
                [[k, str(c.benign), str(c.fp), _pct(c.fpr, 3)] for k, c in sorted(ev.personas.items())]))
    families = sorted({f for f, _ in ev.families})
    rows = []
    for f in families:
        cells = [f]
        for e in EVASIONS:
            c = ev.families.get((f, e))
            cells.append("-" if c is None else f"{_pct(c.recall, 1)} of {c.abuse}")
        rows.append(cells)
    out.append(("Recall per abuse family and evasion level", ["family", *EVASIONS], rows))
    camp = [[c.id, c.family, c.evasion, str(c.actions), "never" if c.first_block is None else str(c.first_block),
             _pct(c.stopped / c.actions if c.actions else None, 1)]
            for c in sorted(ev.campaigns.values(), key=lambda c: (c.family, EVASIONS.index(c.evasion) if c.evasion in EVASIONS else 9, c.id))]
    out.append(("Campaigns", ["campaign", "family", "evasion", "abusive actions", "actions until first stop",
                              "share stopped"], camp))
    out.append(("Rule hits (labelled actions)", ["rule", "hits"],
                [[k, str(v)] for k, v in sorted(ev.rule_hits.items(), key=lambda kv: -kv[1])]))
    return out


def to_markdown(ev: Evaluation) -> str:
    lines = [f"# {ev.title}", ""]
    lines += [f"_{n}_" for n in ev.notes] + ([""] if ev.notes else [])
    for heading, cols, rows in tables(ev):
        lines += [f"## {heading}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(r) + " |" for r in rows] or ["| " + " | ".join("-" * len(cols)) + " |"]
        lines.append("")
    return "\n".join(lines)


def charts(ev: Evaluation) -> list[str]:
    out = [histogram(ev.risk, "Risk: benign vs abuse", "risk")]
    if ev.score["benign"] or ev.score["abuse"]:
        out.append(histogram(ev.score, "Model score: benign vs abuse", "score"))
    pts = pr_curve(ev.risk)
    if pts:
        out.append(curve([(r, p) for _, r, p in pts], "Precision / recall over the risk threshold", "recall",
                         "precision", threshold_marks(ev.risk)))
    return [c for c in out if c]


def to_html(ev: Evaluation) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(ev.title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}"
        ".no{color:#b00;font-weight:bold}.charts{display:flex;flex-wrap:wrap;gap:12px}</style></head><body>",
        f"<h1>{escape(ev.title)}</h1>",
    ]
    parts += [f"<p><em>{escape(n)}</em></p>" for n in ev.notes]
    parts.append("<div class='charts'>" + "".join(charts(ev)) + "</div>")
    for heading, cols, rows in tables(ev):
        parts.append(f"<h2>{escape(heading)}</h2><table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            cells = []
            for v in r:
                if v == "**no**":
                    cells.append("<td class='no'>no</td>")
                else:
                    cells.append(f"<td>{escape(v)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
