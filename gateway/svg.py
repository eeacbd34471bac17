"""Small inline SVG charts (evaluation reports, the admin console): histograms and curves, no plotting library."""

from __future__ import annotations

from html import escape

W, H, PAD = 520, 260, 44
TOP, RIGHT = 24, W - 10  # the plot area: x from PAD to RIGHT, y from TOP to H - PAD
FONT = 11
COLOURS = {"benign": "#2b7bb9", "abuse": "#d1495b"}


def frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="{FONT}">',
        f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{RIGHT}" y2="{H - PAD}" stroke="#333"/>',
        f'<line x1="{PAD}" y1="{TOP}" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>',
        f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{H / 2}" text-anchor="middle" transform="rotate(-90 12 {H / 2})">{escape(y_label)}</text>',
    ]


def sx(x: float, lo: float, hi: float) -> float:
    return PAD + (x - lo) / ((hi - lo) or 1.0) * (RIGHT - PAD)


def sy(y: float, top: float) -> float:
    return H - PAD - y / (top or 1.0) * (H - PAD - TOP)


def histogram(series: dict[str, list[float]], title: str, x_label: str, bins: int = 30) -> str:
    """Overlaid histograms, each series normalised to its share of its own count."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    width = (hi - lo) / bins
    shares: dict[str, list[float]] = {}
    for name, vs in series.items():
        counts = [0] * bins
        for v in vs:
            counts[min(int((v - lo) / width), bins - 1)] += 1
        shares[name] = [c / len(vs) if vs else 0.0 for c in counts]
    top = max(max(s) for s in shares.values()) or 1.0
    out = frame(title, x_label, "share of actions")
    for name, s in shares.items():
        colour = COLOURS.get(name, "#666")
        for i, share in enumerate(s):
            if share <= 0:
                continue
            x0, x1 = sx(lo + i * width, lo, hi), sx(lo + (i + 1) * width, lo, hi)
            y = sy(share, top)
            out.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                       f'height="{H - PAD - y:.1f}" fill="{colour}" fill-opacity="0.55"/>')
    out += _ticks(lo, hi, top)
    out += _legend(list(series))
    out.append("</svg>")
    return "\n".join(out)


def curve(points: list[tuple[float, float]], title: str, x_label: str, y_label: str,
          marks: list[tuple[float, float, str]] = ()) -> str:  # type: ignore[assignment]
    """A line through (x, y) points on [0, 1] x [0, 1], with optional labelled marks."""
    if not points:
        return ""
    out = frame(title, x_label, y_label)
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x, 0, 1):.1f},{sy(y, 1):.1f}" for i, (x, y) in enumerate(points))
    out.append(f'<path d="{path}" fill="none" stroke="{COLOURS["abuse"]}" stroke-width="2"/>')
    taken: list[tuple[float, float, float, float]] = []
    for x, y, label in marks:
        cx, cy = sx(x, 0, 1), sy(y, 1)
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="#222"/>')
        tx, ty, anchor = place_label(cx, cy, label, taken)
        out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}">{escape(label)}</text>')
    out += _ticks(0, 1, 1)
    out.append("</svg>")
    return "\n".join(out)


def text_width(text: str) -> float:
    """A generous width of ``text`` at FONT in a sans-serif face (no font metrics here)."""
    return 0.62 * FONT * len(text)


def label_box(x: float, y: float, text: str, anchor: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) a label drawn at baseline (x, y) covers, descenders included."""
    width = text_width(text)
    left = x - width if anchor == "end" else x
    return left, y - FONT, left + width, y + 3


def place_label(cx: float, cy: float, text: str, taken: list[tuple[float, float, float, float]]
                ) -> tuple[float, float, str]:
    """(x, baseline y, anchor) for a mark's label: beside its point, inside the plot area, clear of the axes
    and of the labels in ``taken`` (to which its box is added). A point near the right edge gets its label on
    its left; one near the top or the x axis, below or above it.
    """
    width = text_width(text)
    x, anchor = cx + 6, "start"
    if x + width > RIGHT:
        x, anchor = max(cx - 6, PAD + 3 + width), "end"
    lo, hi = TOP + FONT + 1, H - PAD - 4  # baselines whose text stays off the title and the x axis
    y = min(max(cy + 4, lo), hi)
    for step in (0, FONT + 3, -(FONT + 3), 2 * (FONT + 3), -2 * (FONT + 3), 3 * (FONT + 3)):
        candidate = min(max(y + step, lo), hi)
        box = label_box(x, candidate, text, anchor)
        if not any(_overlap(box, other) for other in taken):
            y = candidate
            break
    taken.append(label_box(x, y, text, anchor))
    return x, y, anchor


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _ticks(lo: float, hi: float, top: float) -> list[str]:
    out = []
    for i in range(5):
        x = lo + (hi - lo) * i / 4
        out.append(f'<text x="{sx(x, lo, hi):.1f}" y="{H - PAD + 14}" text-anchor="middle">{x:.3g}</text>')
        y = top * i / 4
        out.append(f'<text x="{PAD - 4}" y="{sy(y, top) + 4:.1f}" text-anchor="end">{y:.2g}</text>')
    return out


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = 30 + i * 16
        out.append(f'<rect x="{W - 110}" y="{y}" width="12" height="12" fill="{COLOURS.get(name, "#666")}" fill-opacity="0.7"/>')
        out.append(f'<text x="{W - 92}" y="{y + 10}">{escape(name)}</text>')
    return out
