"""Replay summaries: precision, recall and false-positive rate from hand-made decisions."""

from __future__ import annotations

from gateway.sim.summary import Tally, flagged, format_summary


def line(decision: str, enforced: bool, label: str | None, family: str | None = None, rules=()) -> dict:
    meta = {"family": family} if family else {"persona": "home"}
    return {"decision": decision, "enforced": enforced, "rules": list(rules), "shadow_rules": [],
            "label": label, "meta": meta}


def test_only_enforced_stopping_decisions_count_as_flagged() -> None:
    assert flagged("block", True) and flagged("absorb", True) and flagged("throttle", True)
    assert flagged("challenge", True)
    assert not flagged("block", False) and not flagged("log", True) and not flagged("allow", True)


def test_metrics_overall_and_by_field() -> None:
    t = Tally(by=("family",))
    for out in [
        line("block", True, "abuse", "farm", ["r1"]),  # tp
        line("block", True, "abuse", "farm", ["r1"]),  # tp
        line("allow", True, "abuse", "farm"),  # fn
        line("challenge", True, "abuse", "ring", ["r2"]),  # tp
        line("block", False, "abuse", "ring"),  # shadow: fn
        line("block", True, "benign", None, ["r1"]),  # fp
        *[line("allow", True, "benign") for _ in range(14)],  # tn
    ]:
        t.add(out, protected=True)
    t.add(line("allow", False, "benign"), protected=False)  # a token endpoint line: not an action
    s = t.as_dict()
    assert s["actions"] == 20 and s["lines"] == 21
    assert s["rule_hits"] == {"r1": 3, "r2": 1}
    m = s["labelled"]
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 2, 14)
    assert m["precision"] == 0.75 and m["recall"] == 0.6 and abs(m["fpr"] - 1 / 15) < 1e-6
    by = s["by"]["family"]
    assert by["farm"]["recall"] == round(2 / 3, 6) and by["ring"]["recall"] == 0.5
    assert by["-"]["fpr"] == round(1 / 15, 6) and by["-"]["recall"] is None
    text = format_summary(s)
    assert "precision  75.00%" in text and "by family:" in text


def test_no_labels_no_metrics() -> None:
    t = Tally()
    t.add(line("allow", True, None), protected=True)
    assert "labelled" not in t.as_dict()
