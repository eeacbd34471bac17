"""Replay summaries: precision, recall and false-positive rate from hand-made decisions; what a replay counts."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from gateway.frontdoors.replay import (
    Problems,
    decide_records,
    load_config,
    read_records,
    replay,
    replay_main,
    replay_settings,
)
from gateway.offline.decisions import TOKEN_BIRTH
from gateway.offline.scenarios import build, get_scenario
from gateway.offline.summary import Tally, flagged, format_summary


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
    t.add({**line("allow", False, "benign"), "explain": TOKEN_BIRTH}, protected=False)  # not an action
    s = t.as_dict()
    assert s["actions"] == 20 and s["valid"] == 21 and s["births"] == 1
    assert sum(s["decisions"].values()) == 20, "a token-endpoint line is not an allow decision"
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


@pytest.fixture(scope="module")
def smoke() -> list[str]:
    return [line + "\n" for line in build(get_scenario("smoke"), 1).lines()]


async def test_token_endpoint_records_are_counted_as_births_not_as_decisions(smoke: list[str]) -> None:
    summary = await replay(replay_settings(load_config(None)), smoke)
    logins = sum('"path":"/oauth/token"' in line for line in smoke)
    assert sum(summary["decisions"].values()) == summary["actions"], "every decision is on a protected action"
    assert logins and summary["births"] == logins
    assert summary["actions"] == len(smoke) - logins - summary["unprotected"]
    assert summary["lines_read"] == summary["valid"] == len(smoke)


async def test_alike_decisions_counted_together_sum_as_counted_one_by_one(smoke: list[str]) -> None:
    settings = replay_settings(load_config(None))
    summary = await replay(settings, smoke)
    one_by_one = Tally()
    async for _, out, protected in decide_records(settings, read_records(smoke, strict=True, problems=Problems())):
        one_by_one.add(out, protected)
    want = one_by_one.as_dict()
    assert summary["actions"] > 0 and summary["rule_hits"], "the smoke scenario stops someone"
    for key in ("actions", "births", "unprotected", "decisions", "shadow_rule_hits", "labelled"):
        assert summary[key] == want[key], key
    assert list(summary["rule_hits"].items()) == list(want["rule_hits"].items())  # ties in the order first hit


async def test_a_replay_leaves_the_garbage_collector_as_it_found_it(smoke: list[str]) -> None:
    before = gc.get_threshold()
    try:
        for threshold in ((1234, 5, 6), (50_000, 10, 10)):
            gc.set_threshold(*threshold)
            await replay(replay_settings(load_config(None)), smoke[:50])
            assert gc.get_threshold() == threshold
    finally:
        gc.set_threshold(*before)


def test_by_persona_puts_abuse_under_its_family_and_level() -> None:
    t = Tally(by=("persona", "family"))
    t.add(line("allow", True, "benign"), protected=True)
    foreign = {"family": "farm", "level": 0, "campaign": "farm-L0", "persona": "like_farm"}
    for meta in (foreign, {**foreign, "level": 3}, {"family": "like_farm", "evasion": "crude", "campaign": "c1"},
                 {"campaign": "c2"}):
        t.add({**line("block", True, "abuse"), "meta": meta}, protected=True)
    by = t.as_dict()["by"]
    assert set(by["persona"]) == {"home", "abuse:farm/L0", "abuse:farm/L3", "abuse:like_farm/crude", "abuse:-"}
    assert by["persona"]["abuse:farm/L0"]["recall"] == 1.0 and by["persona"]["home"]["benign"] == 1
    assert set(by["family"]) == {"-", "farm", "like_farm"}, "other fields group by their own value"


def test_lines_read_valid_and_malformed_are_reported_apart(smoke: list[str], tmp_path: Path, capsys) -> None:
    path = tmp_path / "eight.jsonl"
    path.write_text("".join(smoke[:3]) + "not json\n" + "".join(smoke[3:6]) + '{"id": "x"}\n')
    assert replay_main(["--input", str(path), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "8 lines read: 6 valid, 2 malformed" in err
    assert replay_main(["--input", str(path), "--quiet", "--json"]) == 0
    err = capsys.readouterr().err
    summary = json.loads(err[err.index("{"):])
    assert (summary["lines_read"], summary["valid"], summary["malformed"], summary["blank"]) == (8, 6, 2, 0)
    path.write_text("".join(smoke[:3]) + "\n" + "".join(smoke[3:6]))
    assert replay_main(["--input", str(path), "--quiet"]) == 0
    assert "7 lines read: 6 valid, 0 malformed, 1 blank" in capsys.readouterr().err
