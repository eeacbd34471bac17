"""The scorer and its artifact: round trip, agreement with scikit-learn, movers, and refusals."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from model_support import feature_row, write_labelled

from gateway.model import ModelError, Scorer, artifact
from gateway.offline.model_inputs import encode_row

pytest.importorskip("sklearn")
from gateway.offline.dataset import read_rows  # noqa: E402
from gateway.offline.train import train  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    data = read_rows(write_labelled(folder / "rows.jsonl", seed=7))
    result = train(data, seed=3, c=0.5)
    path = folder / "model.json"
    artifact.write(path, result.document)
    return result, path


def _rows(n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    rows = [feature_row(rng, rng.random() < 0.5) for _ in range(n)]
    rows.append({})  # every feature absent: the defaults
    rows.append({"ip.accounts_1h": 10**9, "session.gap_cv": -5.0})  # far outside the training range: clipped
    return rows


def test_round_trip_keeps_the_document_and_the_scores(trained):
    result, path = trained
    scorer = Scorer.load(path)
    assert scorer.document == json.loads(artifact.dumps(result.document))
    again = Scorer(json.loads(path.read_text()), str(path))
    for row in _rows(50):
        assert scorer.score(row) == again.score(row)
    assert scorer.checksum == artifact.checksum(scorer.document)
    assert 0.0 <= scorer.score({})[0] <= 1.0


def test_scores_equal_scikit_learn_after_calibration(trained):
    import numpy as np

    result, path = trained
    scorer = Scorer.load(path)
    rows = _rows(300) + [h.features for h in result.holdout[:200]]
    x = np.array([encode_row(result.specs, r) for r in rows])
    expected = result.calibrator.predict_proba(result.pipeline.decision_function(x).reshape(-1, 1))[:, 1]
    got = [scorer.score(r)[0] for r in rows]
    worst = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    assert worst < 1e-9, worst
    assert min(got) < 0.1 and max(got) > 0.9  # the rows span the scale, so the comparison means something


def _contributions(doc: dict, features: dict) -> dict[str, float]:
    """Each input's calibrated log-odds contribution, computed the slow obvious way."""
    a = doc["calibration"]["a"]
    out = {}
    for spec in doc["inputs"]:
        v = features.get(spec["name"])
        if spec["encoding"] == "one_hot":
            out[spec["name"]] = a * sum(
                e["weight"] / e["scale"] * ((1.0 if v == e["value"] else 0.0) - e["mean"]) for e in spec["vocabulary"]
            )
            continue
        if spec["encoding"] == "bool":
            x = 1.0 if v else 0.0
        else:
            x = spec["default"] if v is None else v
            if spec["transform"] == "log1p":
                x = math.log1p(x) if x > 0 else 0.0
            x = min(max(x, spec["min"]), spec["max"])
        out[spec["name"]] = a * spec["weight"] / spec["scale"] * (x - spec["mean"])
    return out


def test_movers_are_the_three_largest_contributions(trained):
    _, path = trained
    scorer = Scorer.load(path)
    assert len(scorer.feature_names) >= 4
    doc = scorer.document
    logit_sum = doc["calibration"]["a"] * doc["intercept"] + doc["calibration"]["b"]
    for row in _rows(200, seed=5):
        p, movers = scorer.score(row)
        contributions = _contributions(doc, row)
        ranked = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[:3]
        assert [n for n, _ in movers] == [n for n, _ in ranked]
        for (name, c), (_, expected) in zip(movers, ranked, strict=True):
            assert c == pytest.approx(expected, abs=1e-9), name
        z = logit_sum + sum(contributions.values())
        assert p == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-12)


def test_values_of_the_wrong_type_read_as_absent(trained):
    _, path = trained
    scorer = Scorer.load(path)
    bad = {"ip.accounts_1h": "many", "session.gap_cv": float("nan"), "net.class": 7, "session.ua_changed": "yes"}
    assert scorer.score(bad)[0] == scorer.score({"session.ua_changed": "yes"})[0]


# --- refusals -------------------------------------------------------------------------------------


def _rewrite(path: Path, dest: Path, change, *, reseal: bool) -> Path:
    doc = json.loads(path.read_text())
    change(doc)
    if reseal:  # a well-formed artifact, checksum and all, that is still wrong
        dest.write_text(artifact.dumps(doc))
    else:
        dest.write_text(json.dumps(doc))
    return dest


def test_truncated_artifact_is_refused(trained, tmp_path):
    _, path = trained
    bad = tmp_path / "cut.json"
    bad.write_text(path.read_text()[:400])
    with pytest.raises(ModelError, match=r"cut\.json: not valid JSON .*truncated.*gateway train"):
        Scorer.load(bad)


def test_edited_weight_fails_the_checksum(trained, tmp_path):
    _, path = trained
    bad = _rewrite(path, tmp_path / "edited.json", lambda d: d["inputs"][0].update(weight=9.0), reseal=False)
    with pytest.raises(ModelError, match=r"edited\.json: checksum mismatch.*gateway train"):
        Scorer.load(bad)


def test_model_from_another_catalogue_version_is_refused(trained, tmp_path):
    _, path = trained
    bad = _rewrite(path, tmp_path / "old.json", lambda d: d.update(catalogue_version="0"), reseal=True)
    with pytest.raises(ModelError, match=r"old\.json: trained on feature catalogue version '0'.*gateway train"):
        Scorer.load(bad)


def test_unknown_feature_is_refused(trained, tmp_path):
    _, path = trained
    bad = _rewrite(path, tmp_path / "unknown.json", lambda d: d["inputs"][0].update(name="ip.accounts_7d"), reseal=True)
    with pytest.raises(ModelError, match=r"feature ip\.accounts_7d is not in today's feature catalogue"):
        Scorer.load(bad)


def test_feature_of_another_type_is_refused(trained, tmp_path):
    _, path = trained

    def retype(doc):
        spec = next(s for s in doc["inputs"] if s["encoding"] == "numeric")
        spec.update(name="session.ua_changed", type="float")

    bad = _rewrite(path, tmp_path / "retyped.json", retype, reseal=True)
    with pytest.raises(ModelError, match=r"session\.ua_changed was trained as 'float'.*catalogue says it is 'bool'"):
        Scorer.load(bad)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(calibration={"method": "isotonic"}), "'calibration' must be"),
    (lambda d: d["inputs"][0].update(scale=0.0), "'scale' must be positive"),
    (lambda d: d.update(intercept="1"), "'intercept' is not a number"),
    (lambda d: d.update(format=99), "artifact format 99"),
])
def test_malformed_parameters_are_refused(trained, tmp_path, change, message):
    _, path = trained
    bad = _rewrite(path, tmp_path / "odd.json", change, reseal=True)
    with pytest.raises(ModelError, match=message):
        Scorer.load(bad)


def test_a_model_whose_weights_add_up_past_a_float_is_refused(trained, tmp_path):
    """Every number finite, their sum not: the score was NaN, and a NaN risk passed every threshold."""
    _, path = trained

    def overflow(doc):
        doc["intercept"] = 1.7e308
        spec = next(s for s in doc["inputs"] if s["encoding"] == "numeric")
        spec.update(weight=1e300, scale=1e-10)

    bad = _rewrite(path, tmp_path / "huge.json", overflow, reseal=True)
    with pytest.raises(ModelError, match=r"huge\.json: its weights add up past a float's range"):
        Scorer.load(bad)


@pytest.mark.parametrize("text", [
    lambda good: good.replace('"intercept": ', '"intercept": NaN, "was": ', 1),
    lambda good: "[" * 100_000 + "]" * 100_000,
    lambda good: good.replace('"intercept": ', '"intercept": ' + "9" * 5000 + ', "was": ', 1),
])
def test_artifacts_json_cannot_hold_are_refused_by_name(trained, tmp_path, text):
    _, path = trained
    bad = tmp_path / "odd.json"
    bad.write_text(text(path.read_text()))
    with pytest.raises(ModelError, match=r"odd\.json: .*gateway train"):
        Scorer.load(bad)


def test_an_integer_past_a_float_reads_as_absent(trained):
    _, path = trained
    scorer = Scorer.load(path)
    name = next(s["name"] for s in scorer.document["inputs"] if s["encoding"] == "numeric")
    assert scorer.score({name: 10**400}) == scorer.score({})


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ModelError, match=r"nowhere\.json: file not found"):
        Scorer.load(tmp_path / "nowhere.json")
