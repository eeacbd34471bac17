"""The scorer: a validated artifact turned into a few precomputed tuples, plain Python.

Every input's contribution to the log-odds is ``weight / scale * (x - mean)``
of its encoded value, so the scorer precomputes ``k = weight / scale`` and the
contribution of an absent value, folds one-hot vocabularies into one dict
lookup per string feature, and keeps the three largest contributions in local
variables instead of sorting. The calibrated probability is
``1 / (1 + exp(-(a * logit + b)))`` (Platt scaling); a mover's contribution is
reported on that calibrated log-odds scale, ``a * contribution``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gateway.model import artifact
from gateway.model.errors import ModelError

_exp = math.exp
_log1p = math.log1p


class Scorer:
    """Score a request's feature mapping: ``score(features) -> (probability, top three movers)``."""

    __slots__ = ("path", "document", "checksum", "metrics", "_numeric", "_log_numeric", "_bools", "_one_hot",
                 "_numeric_inputs", "_intercept", "_cal_a", "_cal_b", "feature_names")

    def __init__(self, document: dict[str, Any], path: str = "<memory>") -> None:
        artifact.validate(document, path)
        self.path = path
        self.document = document
        self.checksum: str = document["checksum"]
        self.metrics: dict[str, Any] = document.get("metrics", {})
        numeric, log_numeric, bools, one_hot = [], [], [], []
        for spec in document["inputs"]:
            name, encoding = spec["name"], spec["encoding"]
            if encoding == "numeric":
                k = spec["weight"] / spec["scale"]
                mean, lo, hi = float(spec["mean"]), float(spec["min"]), float(spec["max"])
                log = spec["transform"] == "log1p"
                absent = _encode_numeric(float(spec["default"]), log, lo, hi)
                entry = (name, k, k * (absent - mean), mean, lo, hi)
                (log_numeric if log else numeric).append(entry)
            elif encoding == "bool":
                k = spec["weight"] / spec["scale"]
                mean = spec["mean"]
                bools.append((name, k * (1.0 - mean), -k * mean))
            else:
                base = -sum(e["weight"] / e["scale"] * e["mean"] for e in spec["vocabulary"])
                table = {e["value"]: base + e["weight"] / e["scale"] for e in spec["vocabulary"]}
                one_hot.append((name, table, base))
        self._numeric = tuple(numeric)
        self._log_numeric = tuple(log_numeric)
        self._bools = tuple(bools)
        # One loop for both numeric encodings, plain ones first: the float sum and ties among movers follow this order.
        self._numeric_inputs = tuple((e[0], False, *e[1:]) for e in numeric) \
            + tuple((e[0], True, *e[1:]) for e in log_numeric)
        self._one_hot = tuple(one_hot)
        self._intercept = float(document["intercept"])
        cal = document["calibration"]
        self._cal_a, self._cal_b = float(cal["a"]), float(cal["b"])
        self.feature_names = tuple(spec["name"] for spec in document["inputs"])
        # Each number is finite (validate), but their sum need not be: a model that can score NaN would
        # switch off every risk threshold, so it is refused here, at load, never at a request.
        terms = [self._intercept, self._cal_b]
        for _, _, k, absent, mean, lo, hi in self._numeric_inputs:
            terms += (k * (lo - mean), k * (hi - mean), absent)
        terms += (c for _, c_true, c_false in self._bools for c in (c_true, c_false))
        terms += (c for _, table, base in self._one_hot for c in (base, *table.values()))
        worst = self._cal_a * sum(abs(t) for t in terms)
        if not (all(math.isfinite(t) for t in terms) and math.isfinite(worst)):
            raise ModelError(f"model {path}: its weights add up past a float's range, so it could score NaN; "
                             f"{artifact.FIX}")

    @classmethod
    def load(cls, path: str | Path) -> Scorer:
        """Read, validate and compile an artifact; a bad file raises ModelError naming it and the fix."""
        return cls(artifact.read(path), str(path))

    def score(self, features: dict[str, Any]) -> tuple[float, list[tuple[str, float]]]:
        try:
            result = self._score(features)
            if result[0] == result[0]:
                return result
        except (TypeError, OverflowError):
            pass
        # A value of the wrong type, NaN or past a float's range (never produced by the collector): read it as absent.
        return self._score(_typed_only(features, self))

    def _score(self, features: dict[str, Any]) -> tuple[float, list[tuple[str, float]]]:
        get = features.get
        z = self._intercept
        m1 = m2 = m3 = -1.0
        n1 = n2 = n3 = ""
        c1 = c2 = c3 = 0.0
        for name, log, k, absent, mean, lo, hi in self._numeric_inputs:
            v = get(name)
            if v is None:
                c = absent
            else:
                if log:
                    v = _log1p(v) if v > 0 else 0.0
                if v < lo:
                    v = lo
                elif v > hi:
                    v = hi
                c = k * (v - mean)
            z += c
            a = c if c >= 0.0 else -c
            if a > m3:
                if a > m2:
                    if a > m1:
                        m3, n3, c3, m2, n2, c2, m1, n1, c1 = m2, n2, c2, m1, n1, c1, a, name, c
                    else:
                        m3, n3, c3, m2, n2, c2 = m2, n2, c2, a, name, c
                else:
                    m3, n3, c3 = a, name, c
        for name, c_true, c_false in self._bools:
            c = c_true if get(name) else c_false
            z += c
            a = c if c >= 0.0 else -c
            if a > m3:
                if a > m2:
                    if a > m1:
                        m3, n3, c3, m2, n2, c2, m1, n1, c1 = m2, n2, c2, m1, n1, c1, a, name, c
                    else:
                        m3, n3, c3, m2, n2, c2 = m2, n2, c2, a, name, c
                else:
                    m3, n3, c3 = a, name, c
        for name, table, base in self._one_hot:
            v = get(name)
            c = table.get(v, base) if v.__class__ is str else base
            z += c
            a = c if c >= 0.0 else -c
            if a > m3:
                if a > m2:
                    if a > m1:
                        m3, n3, c3, m2, n2, c2, m1, n1, c1 = m2, n2, c2, m1, n1, c1, a, name, c
                    else:
                        m3, n3, c3, m2, n2, c2 = m2, n2, c2, a, name, c
                else:
                    m3, n3, c3 = a, name, c
        ca = self._cal_a
        t = ca * z + self._cal_b
        # Both branches avoid overflow in exp for extreme log-odds.
        p = 1.0 / (1.0 + _exp(-t)) if t >= 0.0 else _exp(t) / (1.0 + _exp(t))
        movers = [(n1, ca * c1)]
        if n2:
            movers.append((n2, ca * c2))
            if n3:
                movers.append((n3, ca * c3))
        return p, movers

    def __repr__(self) -> str:
        return f"Scorer({self.path!r}, {len(self.feature_names)} features, {self.checksum[:19]})"


def _encode_numeric(v: float, log: bool, lo: float, hi: float) -> float:
    if log:
        v = _log1p(v) if v > 0 else 0.0
    return min(max(v, lo), hi)


_FINITE = 1e300  # compares with any int without converting it: 10**400 is out, as NaN and infinities are


def _typed_only(features: dict[str, Any], scorer: Scorer) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for entry in scorer._numeric + scorer._log_numeric:
        v = features.get(entry[0])
        if isinstance(v, (int, float)) and not isinstance(v, bool) and -_FINITE < v < _FINITE:
            clean[entry[0]] = v
    for entry in scorer._bools:
        if isinstance(features.get(entry[0]), bool):
            clean[entry[0]] = features[entry[0]]
    for entry in scorer._one_hot:
        if isinstance(features.get(entry[0]), str):
            clean[entry[0]] = features[entry[0]]
    return clean
