"""Rules alone vs rules plus model: the comparison over two replays' decision lines."""

from __future__ import annotations

import json

import pytest

from gateway.model import ModelError
from gateway.offline.model_evaluate import (
    compare_decisions,
    evaluate_main,
    format_markdown,
    verdict_on_careful,
)


def _line(rid: str, label: str, decision: str, meta: dict, enforced: bool = True) -> dict:
    return {"id": rid, "decision": decision, "enforced": enforced, "label": label, "meta": meta, "explain": "x"}


CAREFUL = {"family": "like_farm", "evasion": "careful", "campaign": "c1"}
CRUDE = {"family": "like_farm", "evasion": "crude", "campaign": "c2"}
MOBILE = {"persona": "mobile_cgnat"}


def _runs(model_blocks_benign: bool):
    rules = [
        _line("1", "abuse", "block", CRUDE), _line("2", "abuse", "allow", CAREFUL),
        _line("3", "abuse", "allow", CAREFUL), _line("4", "benign", "allow", MOBILE),
        _line("5", "benign", "allow", MOBILE), _line("6", "abuse", "block", CAREFUL, enforced=False),
        {"id": "7", "decision": "allow", "enforced": False, "label": "benign", "meta": MOBILE,
         "explain": "token endpoint: session birth observed"},
    ]
    model = [dict(d) for d in rules]
    model[1]["decision"] = "challenge"  # the model lifts a careful action over the challenge line
    if model_blocks_benign:
        model[3]["decision"] = "block"
    return rules, model


def test_model_that_only_adds_abuse_catches_raises_careful_recall():
    result = compare_decisions(*_runs(False))
    assert result["abuse"]["like_farm/careful"]["rules"]["recall"] == 0.0  # shadow blocks do not count
    assert result["abuse"]["like_farm/careful"]["rules+model"]["recall"] == pytest.approx(1 / 3, abs=1e-6)
    assert result["abuse"]["like_farm/crude"]["rules+model"]["recall"] == 1.0
    assert result["benign"]["mobile_cgnat"]["rules"]["benign"] == 2  # the token endpoint line is not an action
    assert result["changes"]["abuse newly stopped"] == 1 and result["changes"]["benign newly stopped"] == 0
    assert verdict_on_careful(result).startswith("the model raises recall at careful evasion without lowering")
    text = format_markdown(result)
    assert "| like_farm/careful | 3 | 0.00% | 33.33% |" in text


def test_model_that_blocks_a_person_is_reported_as_losing_precision():
    result = compare_decisions(*_runs(True))
    assert result["overall"]["rules+model"]["precision"] < result["overall"]["rules"]["precision"]
    assert "LOWERS precision" in verdict_on_careful(result)
    assert result["benign"]["mobile_cgnat"]["rules+model"]["fpr"] == 0.5


def test_model_that_changes_nothing_says_so():
    rules, _ = _runs(False)
    assert "does NOT raise recall" in verdict_on_careful(compare_decisions(rules, rules))


def test_replays_of_different_traffic_are_refused():
    rules, model = _runs(False)
    with pytest.raises(ModelError, match="cover different requests"):
        compare_decisions(rules, model[:-2])


def test_cli_compares_decision_files(tmp_path, capsys):
    rules, model = _runs(False)
    a, b = tmp_path / "rules.jsonl", tmp_path / "model.jsonl"
    a.write_text("".join(json.dumps(d) + "\n" for d in rules))
    b.write_text("".join(json.dumps(d) + "\n" for d in model))
    md = tmp_path / "report.md"
    assert evaluate_main(["--rules-only", str(a), "--with-model", str(b), "--markdown", str(md)]) == 0
    assert "| like_farm/careful |" in capsys.readouterr().out
    assert md.read_text().startswith("## Rules alone vs rules + model")
    b.write_text("{broken\n")
    assert evaluate_main(["--rules-only", str(a), "--with-model", str(b)]) == 2
    assert "model.jsonl:1: not valid JSON" in capsys.readouterr().err
