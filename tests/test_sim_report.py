"""The evaluation report from hand-made decisions: tables, targets, campaigns and charts."""

from __future__ import annotations

import pytest

from gateway.sim.live import LiveError, check_url
from gateway.sim.report import evaluate, pr_curve, to_html, to_markdown


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
