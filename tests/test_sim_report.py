"""The evaluation report from hand-made decisions: tables, targets, campaigns and charts."""

from __future__ import annotations

import re

import pytest

from gateway.offline.live import LiveError, check_url
from gateway.offline.report import evaluate, pr_curve, threshold_marks, to_html, to_markdown
from gateway.svg import PAD, RIGHT, TOP, H, curve, label_box


def row(label: str, decision: str, risk: float, **meta) -> dict:
    return {"label": label, "decision": decision, "enforced": True, "risk": risk, "score": None,
            "rules": ["farm"] if decision == "block" else [], "meta": meta}


ROWS = [
    row("benign", "allow", 5, persona="mobile_cgnat"),
    row("benign", "allow", 10, persona="mobile_cgnat"),
    row("benign", "block", 80, persona="power_user"),
    row("abuse", "allow", 20, family="like_farm", evasion="crude", campaign="c1"),
    row("abuse", "allow", 30, family="like_farm", evasion="crude", campaign="c1"),
    row("abuse", "block", 90, family="like_farm", evasion="crude", campaign="c1"),
    row("abuse", "block", 95, family="like_farm", evasion="crude", campaign="c1"),
    row("abuse", "allow", 15, family="cyborg", evasion="careful", campaign="c2"),
]


def test_campaigns_personas_and_families() -> None:
    ev = evaluate(ROWS, "t")
    c1, c2 = ev.campaigns["c1"], ev.campaigns["c2"]
    assert (c1.actions, c1.first_block, c1.stopped) == (4, 3, 2)
    assert (c2.actions, c2.first_block, c2.stopped) == (1, None, 0)
    assert ev.personas["power_user"].fpr == 1.0 and ev.personas["mobile_cgnat"].fpr == 0.0
    assert ev.families[("like_farm", "crude")].recall == 0.5
    assert ev.overall.precision == pytest.approx(2 / 3)
    targets = dict(ev.targets())
    assert targets["every campaign stopped"] is False
    assert targets["crude campaigns stopped within 5 actions"] is True
    assert not targets["precision of enforced stops >= 0.99"]


def test_markdown_and_html_carry_the_tables_and_charts() -> None:
    ev = evaluate(ROWS, "Detection quality")
    md = to_markdown(ev)
    assert "| like_farm | 50.0% of 4 | - | - |" in md
    assert "| c1 | like_farm | crude | 4 | 3 | 50.0% |" in md
    assert "| power_user | 1 | 1 | 100.000% |" in md
    html = to_html(ev)
    assert html.count("<svg") == 2 and "Precision / recall" in html and "<td class='no'>no</td>" in html


def test_pr_curve_sweeps_the_threshold() -> None:
    pts = pr_curve({"abuse": [90, 95, 20, 30, 15], "benign": [5, 10, 80]})
    assert pts[0] == (95, 0.2, 1.0)
    assert pts[-1][1] == 1.0 and pts[-1][2] == pytest.approx(5 / 8)
    recalls = [r for _, r, _ in pts]
    assert recalls == sorted(recalls)


def test_live_only_sends_to_loopback_unless_allowed() -> None:
    assert check_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert check_url("http://[::1]:9000") == "http://[::1]:9000"
    assert check_url("http://localhost:1")
    with pytest.raises(LiveError, match="not a loopback address"):
        check_url("http://10.1.2.3:8000")
    assert check_url("https://gw.example", allow_remote=True)
    with pytest.raises(LiveError, match="not an http"):
        check_url("ftp://127.0.0.1")


def brute_force(risk: dict[str, list[float]], threshold: float) -> tuple[float, float]:
    """(recall, precision) when every action with risk >= threshold is stopped."""
    tp = sum(r >= threshold for r in risk["abuse"])
    fp = sum(r >= threshold for r in risk["benign"])
    return tp / len(risk["abuse"]), tp / (tp + fp)


def test_pr_curve_has_a_point_at_the_end_of_each_group_of_equal_risk() -> None:
    # 5 risks shared by 100 actions each: the curve once held only its first and last point
    risk = {"abuse": [float(r) for r in (90, 70, 50) for _ in range(100)],
            "benign": [float(r) for r in (70, 50, 30, 10) for _ in range(100)]}
    pts = pr_curve(risk)
    assert [t for t, _, _ in pts] == [90, 70, 50, 30, 10]
    for t, r, p in pts:
        assert (r, p) == pytest.approx(brute_force(risk, t))


def test_pr_curve_thins_many_distinct_risks_keeping_group_ends_and_extremes() -> None:
    # 900 distinct risks, each shared by three actions
    risk = {"abuse": [float(i) for i in range(300, 1200) for _ in range(2)], "benign": [float(i) for i in range(900)]}
    risk["benign"] += [float(i) for i in range(300, 1200)]
    pts = pr_curve(risk, points=60)
    assert len(pts) == 60
    assert pts[0][0] == 1199 and pts[-1][0] == 0 and pts[-1][1] == 1.0
    thresholds = [t for t, _, _ in pts]
    assert thresholds == sorted(thresholds, reverse=True) and len(set(thresholds)) == 60
    for t, r, p in pts:
        assert (r, p) == pytest.approx(brute_force(risk, t)), "every point is a whole group's end"
    assert len(pr_curve(risk, points=2000)) == 1200, "all the group ends fit: none dropped"


def test_pr_curve_marks_come_from_every_threshold() -> None:
    risk = {"abuse": [float(i) for i in range(100, 400)], "benign": [float(i) for i in range(300)]}
    (r, p, label), _ = threshold_marks(risk)
    assert label == "risk >= 299" and (r, p) == pytest.approx(brute_force(risk, 299))  # 101 of 102 stops abusive
    assert brute_force(risk, 298)[1] < 0.99


LABEL = re.compile(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="(start|end)">([^<]*)</text>')


def test_curve_labels_stay_inside_the_plot_area_and_apart() -> None:
    marks = [(1.0, 1.0, "risk >= 230"), (1.0, 0.995, "risk >= 120"), (0.0, 0.0, "risk >= 990"),
             (1.0, 0.0, "risk >= 1"), (0.0, 1.0, "risk >= 999.5"), (0.5, 0.5, "risk >= 50")]
    svg = curve([(0, 1), (1, 0)], "t", "recall", "precision", marks)
    placed = [(float(x), float(y), anchor, text) for x, y, anchor, text in LABEL.findall(svg) if "risk" in text]
    assert [text.replace("&gt;", ">") for *_, text in placed] == [m[2] for m in marks]
    boxes = []
    for x, y, anchor, text in placed:
        left, top, right, bottom = label_box(x, y, text.replace("&gt;", ">"), anchor)
        assert PAD < left and right <= RIGHT, (text, left, right)
        assert TOP < top and bottom < H - PAD, (text, top, bottom)
        boxes.append((left, top, right, bottom))
    top_right = boxes[:2]
    assert top_right[0][3] <= top_right[1][1] or top_right[1][3] <= top_right[0][1], "two labels at one corner"
