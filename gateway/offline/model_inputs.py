"""Which features the model reads and how each becomes numbers: fitted on training rows, written into
the artifact (where the scorer reads it), and ``encode_row`` for training and evaluation.

Identity-like features (who, where exactly, which device) are left out: a
model that learns account ids, addresses or ASNs memorises the traffic it was
trained on instead of the behaviour. Numbers that are never negative and reach
past 1 (counts, seconds, km) are read through log1p so one extreme value does
not dominate, then clipped to the range seen in training.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from gateway.model.artifact import round_float
from gateway.signals import catalogue

# Identities and exact places: memorisable, not behaviour.
EXCLUDED = frozenset({
    "account.id", "client_id", "target", "net.ip", "net.prefix", "net.as_org", "net.asn", "net.country",
    "session.born_country", "tls.fingerprint", "device.id", "model.score",
    # one platform's app names and version strings: app.version_age and app.version_impossible say what generalises
    "ua.app", "ua.app_version",
})
MAX_VOCABULARY = 16  # most frequent string values kept per feature; others read as "none of these"
MIN_VALUE_COUNT = 3  # a string value seen fewer times in training is too rare to weigh


def candidate_features() -> list[catalogue.Feature]:
    return [f for f in catalogue.all_features() if f.name not in EXCLUDED and f.type in ("bool", "int", "float", "string")]


def fit_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input specs (without parameters) fitted on training feature mappings; constant inputs are dropped."""
    specs: list[dict[str, Any]] = []
    for feature in candidate_features():
        name = feature.name
        values = [r.get(name) for r in rows]
        if feature.type == "string":
            counts = Counter(v for v in values if isinstance(v, str))
            frequent = [v for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= MIN_VALUE_COUNT]
            vocab = sorted(v for v in frequent[:MAX_VOCABULARY] if counts[v] < len(rows))
            if vocab:
                specs.append({"name": name, "type": "string", "encoding": "one_hot", "values": vocab})
        elif feature.type == "bool":
            trues = sum(1 for v in values if v is True)
            if 0 < trues < len(rows):
                specs.append({"name": name, "type": "bool", "encoding": "bool"})
        else:
            present = sorted(float(v) for v in values if v is not None)
            if not present:
                continue
            default = feature.default if feature.default is not None else present[len(present) // 2]
            filled = [float(v) if v is not None else float(default) for v in values]
            log = min(filled) >= 0.0 and max(filled) > 1.0
            encoded = [math.log1p(v) if log else v for v in filled]
            lo, hi = min(encoded), max(encoded)
            if lo < hi:
                specs.append({
                    "name": name, "type": feature.type, "encoding": "numeric", "default": round_float(default),
                    "transform": "log1p" if log else "identity", "min": round_float(lo), "max": round_float(hi),
                })
    return specs


def column_names(specs: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for spec in specs:
        if spec["encoding"] == "one_hot":
            names.extend(f"{spec['name']}={v}" for v in spec["values"])
        else:
            names.append(spec["name"])
    return names


def encode_row(specs: list[dict[str, Any]], features: dict[str, Any]) -> list[float]:
    """The model's input columns for one feature mapping, exactly as the scorer reads them."""
    out: list[float] = []
    for spec in specs:
        v = features.get(spec["name"])
        encoding = spec["encoding"]
        if encoding == "numeric":
            x = float(spec["default"]) if v is None else float(v)
            if spec["transform"] == "log1p":
                x = math.log1p(x) if x > 0 else 0.0
            out.append(min(max(x, spec["min"]), spec["max"]))
        elif encoding == "bool":
            out.append(1.0 if v else 0.0)
        else:
            out.extend(1.0 if v == value else 0.0 for value in spec["values"])
    return out
