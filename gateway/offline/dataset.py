"""Labelled feature rows, as ``gateway replay --features`` writes them, read and type-checked.

Plain Python (no numpy) so the evaluation and the tests can use it without
the training extra. Each line is a JSON object with ``label`` ("abuse" or
"benign"), ``meta`` (``account`` and ``campaign`` where known) and
``features`` (catalogue name -> value). Rows without a label or features are
skipped and counted; a value of the wrong type is an error naming the line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.model.errors import ModelError
from gateway.signals import catalogue

LABELS = {"abuse": 1, "benign": 0}


@dataclass(slots=True)
class Row:
    line: int
    label: int  # 1 abuse, 0 benign
    group: str  # campaign for abuse, account for benign: rows of one group never straddle a split
    features: dict[str, Any]
    meta: dict[str, Any]


@dataclass(slots=True)
class Dataset:
    path: str
    rows: list[Row] = field(default_factory=list)
    skipped_unlabelled: int = 0
    skipped_no_features: int = 0
    unknown_features: set[str] = field(default_factory=set)


def read_rows(path: str | Path) -> Dataset:
    path = Path(path)
    data = Dataset(str(path))
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"training input {path}: cannot open it ({exc.strerror})") from None
    with handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            row = _parse_line(text, number, data)
            if row is not None:
                data.rows.append(row)
    if not data.rows:
        raise ModelError(
            f"training input {path}: no labelled rows with features "
            f"({data.skipped_unlabelled} without a label, {data.skipped_no_features} without features); "
            "produce it with 'gateway replay --features' on traffic whose lines carry a label"
        )
    return data


def _parse_line(text: str, number: int, data: Dataset) -> Row | None:
    where = f"{data.path}:{number}"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ModelError(f"{where}: expected a JSON object per line")
    label = obj.get("label")
    if label is None:
        data.skipped_unlabelled += 1
        return None
    if label not in LABELS:
        raise ModelError(f"{where}: label {label!r} is not 'abuse' or 'benign'")
    features = obj.get("features")
    if not isinstance(features, dict) or not features:
        data.skipped_no_features += 1
        return None
    for name, value in features.items():
        check_value(name, value, where, data.unknown_features)
        if isinstance(value, float) and not math.isfinite(value):
            features[name] = None  # NaN/inf carry no measurement: read as absent
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    return Row(number, LABELS[label], group_of(LABELS[label], meta, features, number), features, meta)


def check_value(name: str, value: Any, where: str, unknown: set[str]) -> None:
    feature = catalogue.lookup(name)
    if feature is None:
        unknown.add(name)  # from a newer gateway or an extension: the model cannot use it
        return
    if value is None:
        return
    kind = feature.type
    ok = (
        (kind == "bool" and isinstance(value, bool))
        or (kind in ("int", "float") and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (kind == "string" and isinstance(value, str))
        or (kind == "list" and isinstance(value, list))
    )
    if not ok:
        raise ModelError(
            f"{where}: feature {name} should be {kind} but is {type(value).__name__} {value!r}; "
            "regenerate the file with 'gateway replay --features' from this gateway version"
        )


def group_of(label: int, meta: dict[str, Any], features: dict[str, Any], number: int) -> str:
    if label == 1 and meta.get("campaign") is not None:
        return f"campaign:{meta['campaign']}"
    account = meta.get("account", features.get("account.id"))
    if account is not None:
        return f"account:{account}"
    return f"line:{number}"  # nothing to group by: the row stands alone
