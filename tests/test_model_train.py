"""gateway train: reproducible artifacts, group splits, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from model_support import labelled_lines, write_labelled

from gateway.model import ModelError, Scorer
from gateway.offline.dataset import read_rows

pytest.importorskip("sklearn")
from gateway.offline.train import split_groups, train_main  # noqa: E402


def test_same_input_and_seed_give_identical_bytes(tmp_path, capsys):
    rows = write_labelled(tmp_path / "rows.jsonl", seed=2)
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    assert train_main(["--input", str(rows), "--out", str(a), "--seed", "4"]) == 0
    assert train_main(["--input", str(rows), "--out", str(b), "--seed", "4"]) == 0
    assert train_main(["--input", str(rows), "--out", str(c), "--seed", "5"]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()  # the seed picks other held-out groups
    out = capsys.readouterr().out
    assert "PR-AUC" in out and "recall at 0.1% FPR" in out
    doc = Scorer.load(a).document
    assert doc["seed"] == 4
    assert set(doc["metrics"]) >= {"pr_auc", "recall_at_fpr_0.001", "rows", "groups"}
    assert doc["metrics"]["pr_auc"] > 0.9  # the generated classes are separable enough to learn


def test_identity_features_stay_out_of_the_model(tmp_path):
    rows = write_labelled(tmp_path / "rows.jsonl", seed=2)
    out = tmp_path / "m.json"
    assert train_main(["--input", str(rows), "--out", str(out), "--c", "10"]) == 0
    names = {spec["name"] for spec in json.loads(out.read_text())["inputs"]}
    assert "account.id" not in names
    assert names & {"ip.accounts_1h", "session.gap_cv", "session.regular_share"}


def test_groups_never_straddle_the_split(tmp_path):
    data = read_rows(write_labelled(tmp_path / "rows.jsonl", seed=3))
    fit, cal, hold = split_groups(data.rows, 0.3, seed=9)
    assert not (fit & cal) and not (fit & hold) and not (cal & hold)
    assert fit | cal | hold == {r.group for r in data.rows}
    for part in (fit, cal, hold):
        assert {r.label for r in data.rows if r.group in part} == {0, 1}
    assert any(g.startswith("campaign:") for g in hold) and any(g.startswith("account:") for g in hold)


def test_rows_without_label_or_features_are_skipped_and_counted(tmp_path, capsys):
    extra = [json.dumps({"id": "x1", "features": {"ip.accounts_1h": 3}}),
             json.dumps({"id": "x2", "label": "benign", "features": {}}),
             json.dumps({"id": "x3", "label": "abuse"})]
    rows = write_labelled(tmp_path / "rows.jsonl", seed=2, extra=extra)
    data = read_rows(rows)
    assert (data.skipped_unlabelled, data.skipped_no_features) == (1, 2)
    assert train_main(["--input", str(rows), "--out", str(tmp_path / "m.json")]) == 0
    assert "3 skipped: 1 unlabelled, 2 without features" in capsys.readouterr().out


def test_no_labelled_rows_at_all_is_a_clear_error(tmp_path, capsys):
    rows = tmp_path / "unlabelled.jsonl"
    rows.write_text("\n".join(json.dumps({"id": str(i), "features": {"ip.accounts_1h": i}}) for i in range(5)) + "\n")
    assert train_main(["--input", str(rows), "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "unlabelled.jsonl: no labelled rows with features (5 without a label" in err
    assert "gateway replay --features" in err
    assert not (tmp_path / "m.json").exists()


def test_wrong_typed_column_names_the_line_and_feature(tmp_path, capsys):
    lines = labelled_lines(2)
    bad = json.loads(lines[4])
    bad["features"]["ip.accounts_1h"] = "twelve"
    lines[4] = json.dumps(bad)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(lines) + "\n")
    assert train_main(["--input", str(rows), "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "rows.jsonl:5: feature ip.accounts_1h should be int but is str 'twelve'" in err


@pytest.mark.parametrize("line, message", [
    ("{not json", r"rows\.jsonl:3: not valid JSON"),
    ('["a list"]', r"rows\.jsonl:3: expected a JSON object"),
    (json.dumps({"label": "spam", "features": {"ip.accounts_1h": 1}}), r"rows\.jsonl:3: label 'spam' is not"),
    (json.dumps({"label": "abuse", "features": {"session.ua_changed": 1}}), r"session\.ua_changed should be bool"),
])
def test_malformed_lines_are_errors_with_their_number(tmp_path, line, message):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(labelled_lines(2)[:2] + [line]) + "\n")
    with pytest.raises(ModelError, match=message):
        read_rows(rows)


def test_too_few_groups_to_split_is_a_clear_error(tmp_path, capsys):
    rows = write_labelled(tmp_path / "rows.jsonl", seed=2, campaigns=2, accounts=10)
    assert train_main(["--input", str(rows), "--out", str(tmp_path / "m.json")]) == 2
    assert "at least 3 abuse groups (campaigns) and 3 benign groups" in capsys.readouterr().err


def test_missing_input_file_is_a_clear_error(tmp_path, capsys):
    assert train_main(["--input", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "m.json")]) == 2
    assert "none.jsonl: cannot open it" in capsys.readouterr().err


def test_bad_training_input_and_arguments_are_clear_errors_not_tracebacks(tmp_path, capsys):
    from gateway.offline.model_evaluate import evaluate_main

    (tmp_path / "bytes.jsonl").write_bytes(b"\xff\xfe\n")
    assert train_main(["--input", str(tmp_path / "bytes.jsonl"), "--out", str(tmp_path / "m.json")]) == 2
    assert "bytes.jsonl: cannot train on it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--input", str(tmp_path / "bytes.jsonl"), "--out", str(tmp_path / "m.json"), "--c", "nan"])
    assert "--c nan: give a positive number" in capsys.readouterr().err
    (tmp_path / "d.jsonl").write_text('{"id": "1", "decision": "allow", "explain": null}\n')
    (tmp_path / "empty.jsonl").write_text("")
    for decisions, message in (("d.jsonl", "not a replay decision line"), ("empty.jsonl", "no decision lines")):
        path = str(tmp_path / decisions)
        assert evaluate_main(["--rules-only", path, "--with-model", path]) == 2
        assert message in capsys.readouterr().err
