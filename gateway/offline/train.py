"""``gateway train``: fit the calibrated model on labelled feature rows and write the artifact.

Needs the optional ``[train]`` extra (scikit-learn, numpy); nothing here is
imported when serving. Rows are split by group, never by row: abuse by
campaign and benign by account, so no campaign is both learned and graded.
The training groups are split again: one part fits an L1-regularised logistic
regression (sparse, so the scorer reads few features), the other fits Platt
calibration. The held-out groups give the reported PR-AUC and recall at a
0.1% false-positive rate. Same input and seed, same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
from dataclasses import dataclass
from typing import Any

from gateway.model import artifact
from gateway.model.errors import ModelError
from gateway.offline.dataset import Dataset, Row, read_rows
from gateway.offline.model_inputs import column_names, encode_row, fit_inputs
from gateway.signals import catalogue

CALIBRATION_FRAC = 0.25  # of the training groups
TARGET_FPR = 0.001


def _require_training_extra():
    try:
        import numpy
        import sklearn
    except ImportError:
        raise ModelError(
            "training needs scikit-learn and numpy: pip install 'engagement-gateway[train]'"
        ) from None
    return numpy, sklearn


@dataclass
class TrainResult:
    document: dict[str, Any]  # the artifact, checksummed by artifact.dumps/write
    specs: list[dict[str, Any]]  # input encodings (scikit-learn sees encode_row of these)
    pipeline: Any  # StandardScaler + LogisticRegression
    calibrator: Any  # LogisticRegression on the pipeline's decision function (Platt)
    holdout: list[Row]
    metrics: dict[str, Any]


def split_groups(rows: list[Row], holdout_frac: float, seed: int) -> tuple[set[str], set[str], set[str]]:
    """(fit, calibration, holdout) group sets, drawn per class so each part has both labels."""
    abusive = sorted({r.group for r in rows if r.label == 1})
    benign = sorted({r.group for r in rows if r.label == 0} - set(abusive))
    if len(abusive) < 3 or len(benign) < 3:
        raise ModelError(
            f"training needs at least 3 abuse groups (campaigns) and 3 benign groups (accounts); "
            f"the input has {len(abusive)} and {len(benign)}: generate more traffic"
        )
    rng = random.Random(seed)
    fit: set[str] = set()
    calibration: set[str] = set()
    holdout: set[str] = set()
    for groups in (abusive, benign):
        groups = list(groups)
        rng.shuffle(groups)
        n_hold = min(len(groups) - 2, max(1, round(holdout_frac * len(groups))))
        rest = groups[n_hold:]
        n_cal = min(len(rest) - 1, max(1, round(CALIBRATION_FRAC * len(rest))))
        holdout.update(groups[:n_hold])
        calibration.update(rest[:n_cal])
        fit.update(rest[n_cal:])
    return fit, calibration, holdout


def train(data: Dataset, *, seed: int = 0, holdout_frac: float = 0.3, c: float = 0.05) -> TrainResult:
    np, sklearn = _require_training_extra()
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0.0 < holdout_frac < 1.0:
        raise ModelError(f"--holdout-frac {holdout_frac} must be between 0 and 1")
    fit_g, cal_g, hold_g = split_groups(data.rows, holdout_frac, seed)
    fit_rows = [r for r in data.rows if r.group in fit_g]
    cal_rows = [r for r in data.rows if r.group in cal_g]
    hold_rows = [r for r in data.rows if r.group in hold_g]

    specs = fit_inputs([r.features for r in fit_rows])
    if not specs:
        raise ModelError(f"training input {data.path}: no feature varies across the training rows")

    def matrix(rows: list[Row]):
        return np.array([encode_row(specs, r.features) for r in rows], dtype=float), np.array([r.label for r in rows])

    x_fit, y_fit = matrix(fit_rows)
    x_cal, y_cal = matrix(cal_rows)
    x_hold, y_hold = matrix(hold_rows)

    penalty = {"l1_ratio": 1.0} if _version(sklearn.__version__) >= (1, 8) else {"penalty": "l1"}
    pipeline = Pipeline([
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=c, solver="liblinear", class_weight="balanced", random_state=seed,
                                     max_iter=1000, **penalty)),
    ]).fit(x_fit, y_fit)
    calibrator = LogisticRegression(C=1e6, max_iter=1000).fit(pipeline.decision_function(x_cal).reshape(-1, 1), y_cal)

    p_hold = calibrator.predict_proba(pipeline.decision_function(x_hold).reshape(-1, 1))[:, 1]
    metrics = holdout_metrics(y_hold, p_hold)
    metrics["rows"] = {"fit": len(fit_rows), "calibration": len(cal_rows), "holdout": len(hold_rows)}
    metrics["groups"] = {"fit": len(fit_g), "calibration": len(cal_g), "holdout": len(hold_g)}

    document = _document(specs, pipeline, calibrator, metrics, seed, c, holdout_frac, data, sklearn.__version__)
    return TrainResult(document, specs, pipeline, calibrator, hold_rows, metrics)


def holdout_metrics(y, p) -> dict[str, Any]:
    """PR-AUC and recall at 0.1% false-positive rate of calibrated scores on held-out rows."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    benign = sorted((float(s) for s, label in zip(p, y, strict=True) if label == 0), reverse=True)
    abusive = [float(s) for s, label in zip(p, y, strict=True) if label == 1]
    allowed = int(TARGET_FPR * len(benign))  # benign rows that may score above the threshold
    threshold = benign[allowed] if allowed < len(benign) else 0.0
    recall = sum(1 for s in abusive if s > threshold) / len(abusive) if abusive else 0.0
    return {
        "pr_auc": artifact.round_float(average_precision_score(y, p)),
        "roc_auc": artifact.round_float(roc_auc_score(y, p)),
        "recall_at_fpr_0.001": artifact.round_float(recall),
        "threshold_at_fpr_0.001": artifact.round_float(threshold),
        "holdout_abuse_rows": len(abusive),
        "holdout_benign_rows": len(benign),
        "note": "fpr 0.001 is only resolved when the holdout has at least 1000 benign rows",
    }


def _document(specs, pipeline, calibrator, metrics, seed, c, holdout_frac, data, sklearn_version) -> dict[str, Any]:
    r = artifact.round_float
    scaler, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
    weights, means, scales = model.coef_[0], scaler.mean_, scaler.scale_
    col = 0
    inputs = []
    for spec in specs:
        if spec["encoding"] == "one_hot":
            vocab = []
            for value in spec["values"]:
                if weights[col] != 0.0:
                    vocab.append({"value": value, "mean": r(means[col]), "scale": r(scales[col]), "weight": r(weights[col])})
                col += 1
            if vocab:
                inputs.append({"name": spec["name"], "type": spec["type"], "encoding": "one_hot", "vocabulary": vocab})
            continue
        if weights[col] != 0.0:  # L1 zeroed it: the scorer need not read it
            entry = {k: v for k, v in spec.items()}
            entry.update(mean=r(means[col]), scale=r(scales[col]), weight=r(weights[col]))
            inputs.append(entry)
        col += 1
    if not inputs:
        raise ModelError("the regularisation removed every feature; train with a larger --c")
    digest = hashlib.sha256()
    for row in data.rows:  # what training read, not the file's bytes: explain texts may change freely
        digest.update(artifact.canonical_json([row.label, row.group, row.features]).encode("ascii"))
        digest.update(b"\n")
    return {
        "format": artifact.FORMAT,
        "kind": "logistic_regression",
        "catalogue_version": catalogue.CATALOGUE_VERSION,
        "inputs": inputs,
        "intercept": r(model.intercept_[0]),
        "calibration": {"method": "platt", "a": r(calibrator.coef_[0][0]), "b": r(calibrator.intercept_[0])},
        "metrics": metrics,
        "seed": seed,
        "training": {
            "rows_sha256": digest.hexdigest(),
            "rows": len(data.rows),
            "skipped_unlabelled": data.skipped_unlabelled,
            "skipped_no_features": data.skipped_no_features,
            "columns_considered": len(column_names(specs)),
            "regularisation": {"penalty": "l1", "C": c, "class_weight": "balanced"},
            "holdout_frac": holdout_frac,
            "split": "by group: campaign for abuse, account for benign",
            "scikit_learn": sklearn_version,
        },
    }


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def train_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway train", description="train the model score on labelled feature rows")
    parser.add_argument("--input", required=True, help="labelled rows from 'gateway replay --features'")
    parser.add_argument("--out", required=True, help="where to write the model artifact (JSON)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the group split and the solver (default 0)")
    parser.add_argument("--holdout-frac", type=float, default=0.3, help="share of groups held out for the report")
    parser.add_argument("--c", type=float, default=0.05, help="inverse L1 regularisation strength (default 0.05)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.c) and args.c > 0):
        parser.error(f"--c {args.c}: give a positive number, e.g. 0.05")
    if not 0 < args.holdout_frac < 1:
        parser.error(f"--holdout-frac {args.holdout_frac}: give a share between 0 and 1, e.g. 0.3")
    try:
        data = read_rows(args.input)
        result = train(data, seed=args.seed, holdout_frac=args.holdout_frac, c=args.c)
        artifact.write(args.out, result.document)
    except ModelError as exc:
        print(f"gateway train: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gateway train: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # a row no model can be fitted on
        print(f"gateway train: {args.input}: cannot train on it: {type(exc).__name__}: {str(exc)[:300]}; "
              "give rows written by 'gateway replay --features'", file=sys.stderr)
        return 2
    m = result.metrics
    skipped = data.skipped_unlabelled + data.skipped_no_features
    print(f"gateway train: {len(data.rows)} rows ({skipped} skipped: {data.skipped_unlabelled} unlabelled, "
          f"{data.skipped_no_features} without features); groups fit/calibration/holdout "
          f"{m['groups']['fit']}/{m['groups']['calibration']}/{m['groups']['holdout']}")
    print(f"held out: PR-AUC {m['pr_auc']:.4f}, ROC-AUC {m['roc_auc']:.4f}, recall at 0.1% FPR "
          f"{m['recall_at_fpr_0.001']:.4f} ({m['holdout_abuse_rows']} abuse / {m['holdout_benign_rows']} benign rows)")
    print(f"wrote {args.out}: {len(result.document['inputs'])} features")
    if data.unknown_features:
        print(f"note: ignored features not in this catalogue: {', '.join(sorted(data.unknown_features))}")
    return 0


if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))
