"""The model artifact: a JSON document, its canonical form, checksum and validation.

The artifact is the contract between ``gateway train`` and the scorer. Loading
checks the format, the catalogue version, every feature name and type against
today's catalogue, and the SHA-256 checksum over the canonical JSON of
everything but the checksum itself, so a hand-edited, truncated or stale file
is refused with a message saying what to do instead of scoring wrongly.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from gateway.model.errors import ModelError
from gateway.numbers import finite_number
from gateway.signals import catalogue

FORMAT = 1
KINDS = ("logistic_regression",)
ENCODINGS = {"numeric": ("int", "float"), "bool": ("bool",), "one_hot": ("string",)}
TRANSFORMS = ("identity", "log1p")
CALIBRATIONS = ("platt",)
FIX = "retrain it with 'gateway train --input labelled.jsonl --out MODEL.json' (see gateway/model/README.md)"
SIGNIFICANT_DIGITS = 12


def round_float(x: float) -> float:
    """Round to a fixed number of significant digits so the same fit writes the same bytes."""
    x = float(x)
    if x == 0.0 or not math.isfinite(x):
        return 0.0 if x == 0.0 else x
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def checksum(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def dumps(doc: dict[str, Any]) -> str:
    """The artifact's file text: sorted, indented, checksummed, newline-terminated."""
    doc = dict(doc)
    doc["checksum"] = checksum(doc)
    return json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False) + "\n"


def write(path: str | Path, doc: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(doc), encoding="ascii")
    tmp.replace(path)  # atomic, so a watching gateway never reads half a file


def read(path: str | Path) -> dict[str, Any]:
    """Read and fully validate an artifact; any problem is a ModelError naming the file and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"model {path}: file not found; point 'model:' at an artifact or {FIX}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"model {path}: cannot read it ({exc}); {FIX}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"model {path}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            f"the file is truncated or damaged; {FIX}"
        ) from None
    except (ValueError, RecursionError) as exc:  # a number past Python's digit limit, nesting past the stack
        raise ModelError(f"model {path}: not an artifact this gateway can read ({type(exc).__name__}); {FIX}") from None
    try:
        validate(doc, str(path))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. NaN where the checksum is taken
        raise ModelError(f"model {path}: not an artifact this gateway can read ({exc}); {FIX}") from None
    return doc


def validate(doc: Any, where: str) -> None:
    def fail(msg: str) -> ModelError:
        return ModelError(f"model {where}: {msg}; {FIX}")

    if not isinstance(doc, dict):
        raise fail("the top level is not a JSON object")
    if doc.get("format") != FORMAT:
        raise fail(f"artifact format {doc.get('format')!r} is not {FORMAT}")
    expected = doc.get("checksum")
    if not isinstance(expected, str) or expected != checksum(doc):
        raise fail("checksum mismatch: the file was edited or damaged after training")
    version = doc.get("catalogue_version")
    if version != catalogue.CATALOGUE_VERSION:
        raise fail(
            f"trained on feature catalogue version {version!r}, this gateway has version "
            f"{catalogue.CATALOGUE_VERSION!r}"
        )
    if doc.get("kind") not in KINDS:
        raise fail(f"model kind {doc.get('kind')!r} is not one of {KINDS}")
    if not _is_number(doc.get("intercept")):
        raise fail("'intercept' is not a number")
    cal = doc.get("calibration")
    if not isinstance(cal, dict) or cal.get("method") not in CALIBRATIONS or not (
        _is_number(cal.get("a")) and _is_number(cal.get("b"))
    ):
        raise fail(f"'calibration' must be {{method: one of {CALIBRATIONS}, a: number, b: number}}")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise fail("'inputs' is not a non-empty list")
    seen: set[str] = set()
    for i, spec in enumerate(inputs):
        _validate_input(spec, i, seen, fail)


def _validate_input(spec: Any, i: int, seen: set[str], fail) -> None:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise fail(f"inputs[{i}] has no feature name")
    name = spec["name"]
    if name in seen:
        raise fail(f"feature {name} appears twice in 'inputs'")
    seen.add(name)
    feature = catalogue.lookup(name)
    if feature is None:
        raise fail(f"feature {name} is not in today's feature catalogue (see 'gateway features')")
    encoding = spec.get("encoding")
    if encoding not in ENCODINGS:
        raise fail(f"feature {name}: encoding {encoding!r} is not one of {tuple(ENCODINGS)}")
    if feature.type not in ENCODINGS[encoding] or spec.get("type") != feature.type:
        raise fail(
            f"feature {name} was trained as {spec.get('type')!r} ({encoding}) but the catalogue "
            f"says it is {feature.type!r}"
        )
    if encoding == "one_hot":
        vocab = spec.get("vocabulary")
        if not isinstance(vocab, list) or not vocab:
            raise fail(f"feature {name}: 'vocabulary' is not a non-empty list")
        values = set()
        for entry in vocab:
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
                raise fail(f"feature {name}: a vocabulary entry has no string 'value'")
            if entry["value"] in values:
                raise fail(f"feature {name}: vocabulary value {entry['value']!r} appears twice")
            values.add(entry["value"])
            _require_numbers(entry, ("mean", "scale", "weight"), f"feature {name}={entry['value']}", fail)
        return
    keys = ("mean", "scale", "weight")
    if encoding == "numeric":
        keys += ("default", "min", "max")
        if spec.get("transform") not in TRANSFORMS:
            raise fail(f"feature {name}: transform {spec.get('transform')!r} is not one of {TRANSFORMS}")
    _require_numbers(spec, keys, f"feature {name}", fail)


def _require_numbers(spec: dict, keys: tuple[str, ...], what: str, fail) -> None:
    for key in keys:
        if not _is_number(spec.get(key)):
            raise fail(f"{what}: '{key}' is not a number")
    if "scale" in keys and spec["scale"] <= 0:
        raise fail(f"{what}: 'scale' must be positive")


def _is_number(x: Any) -> bool:
    return finite_number(x) is not None
