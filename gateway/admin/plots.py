"""Rule hits over time: per rule, enforce and shadow side by side, last hour and last day, as inline SVG."""

from __future__ import annotations

from html import escape

from gateway.admin.records import BUCKET_S
from gateway.svg import COLOURS, PAD, RIGHT, H, frame, sx, sy

SERIES = {"enforce hits": ("enforce", "hit"), "enforce stops": ("enforce", "stop"),
          "shadow hits": ("shadow", "hit"), "shadow stops": ("shadow", "stop")}
COLOURS = {**COLOURS, "enforce hits": "#2b7bb9", "enforce stops": "#d1495b", "shadow hits": "#8fbc8f",
           "shadow stops": "#e0a030"}


def totals(counts: dict[int, dict[str, int]], now: float) -> dict[str, dict[str, int]]:
    """rule -> {"enforce_hit_1h": n, ...} over the last hour and day."""
    hour_from = int(now // BUCKET_S) - 3600 // BUCKET_S + 1
    out: dict[str, dict[str, int]] = {}
    for bucket, fields in counts.items():
        for field, n in fields.items():
            rule, mode, kind = field.rsplit("|", 2)
            t = out.setdefault(rule, {})
            t[f"{mode}_{kind}_1d"] = t.get(f"{mode}_{kind}_1d", 0) + n
            if bucket >= hour_from:
                t[f"{mode}_{kind}_1h"] = t.get(f"{mode}_{kind}_1h", 0) + n
    return out


def series(counts: dict[int, dict[str, int]], rule: str, now: float, hours: bool) -> dict[str, list[int]]:
    """Per series, the count per point: 12 five-minute points (hour) or 24 hourly points (day)."""
    last = int(now // BUCKET_S)
    per, n = (3600 // BUCKET_S, 24) if hours else (1, 3600 // BUCKET_S)
    first = last - per * n + 1
    out = {name: [0] * n for name in SERIES}
    for bucket, fields in counts.items():
        if bucket < first or bucket > last:
            continue
        i = (bucket - first) // per
        for name, (mode, kind) in SERIES.items():
            out[name][i] += fields.get(f"{rule}|{mode}|{kind}", 0)
    return out


def chart(rule: str, points: dict[str, list[int]], title: str, x_label: str) -> str:
    top = max(1, max((max(v) for v in points.values()), default=1))
    n = len(next(iter(points.values())))
    out = frame(title, x_label, "requests")
    for name, values in points.items():
        if not any(values):
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(i, 0, max(1, n - 1)):.1f},{sy(v, top):.1f}"
                        for i, v in enumerate(values))
        out.append(f'<path d="{path}" fill="none" stroke="{COLOURS[name]}" stroke-width="2"/>')
    for i in range(5):
        y = top * i / 4
        out.append(f'<text x="{PAD - 4}" y="{sy(y, top) + 4:.1f}" text-anchor="end">{y:.3g}</text>')
    out.append(f'<text x="{PAD}" y="{H - PAD + 14}">{escape("-" + x_label.split()[-1])}</text>')
    out.append(f'<text x="{RIGHT}" y="{H - PAD + 14}" text-anchor="end">now</text>')
    for i, name in enumerate([name for name, v in points.items() if any(v)] or ["no hits"]):
        y = 24 + i * 14
        out.append(f'<rect x="{RIGHT - 110}" y="{y}" width="10" height="10" fill="{COLOURS.get(name, "#666")}"/>')
        out.append(f'<text x="{RIGHT - 96}" y="{y + 9}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def rule_charts(counts: dict[int, dict[str, int]], rule: str, now: float) -> str:
    hour = chart(rule, series(counts, rule, now, hours=False), f"{rule}: last hour", "five-minute steps, 1h")
    day = chart(rule, series(counts, rule, now, hours=True), f"{rule}: last day", "hourly steps, 24h")
    return hour + day

