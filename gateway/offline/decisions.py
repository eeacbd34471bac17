"""Replay's output: one decision line per record, as a dict and as its JSON text.

``decision_dict`` is the line's content; ``DecisionLines.encode`` writes it
as compact JSON with orjson: keys in the dict's order, text as UTF-8, floats
in their shortest round-trip spelling (orjson's: 1e-5 where Python's repr
says 1e-05), NaN and infinities as null (JSON has no spelling for them;
the feature readers take both as absent), a type JSON has not as orjson
writes it, or its ``str()``. A line orjson refuses (an integer past 64 bits, a lone surrogate from an input byte
that was not UTF-8) is written by json, escaped to ASCII.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from gateway.offline.records import Record
from gateway.verdict import Verdict

UNPROTECTED = "unprotected: no protected route or token endpoint matches"
TOKEN_BIRTH = "token endpoint: session birth observed"


def to_json(value: Any) -> str:
    """``value`` as one line of compact JSON."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError: what it cannot write, json can
        return json.dumps(value, separators=(",", ":"), default=str)


def decision_dict(rec: Record, verdict: Verdict | None, status: int, explain: str, features: bool = False
                  ) -> dict[str, Any]:
    """The decision line of ``rec``; ``verdict`` None for a record that passed without a decision."""
    if verdict is None:
        return {"id": rec.id, "ts": rec.ts, "decision": "allow", "enforced": False, "status": status, "risk": 0.0,
                "score": None, "rules": [], "shadow_rules": [], "explain": explain, "label": rec.label,
                "meta": rec.meta}
    out = {
        "id": rec.id, "ts": rec.ts, "decision": str(verdict.decision), "enforced": verdict.enforced,
        "status": status, "risk": verdict.risk,  # rounded once, by the engine
        "score": None if verdict.score is None else round(verdict.score, 6),
        "rules": list(verdict.rules), "shadow_rules": list(verdict.shadow_rules),
        "explain": verdict.explain, "label": rec.label, "meta": rec.meta,
    }
    if features:
        out["features"] = verdict.features or {}
    return out


class DecisionLines:
    """Encodes decision lines, with the features or without."""

    def __init__(self, features: bool = False) -> None:
        self.features = features

    def encode(self, rec: Record, verdict: Verdict | None, status: int, explain: str) -> str:
        """The JSON text of ``decision_dict(rec, verdict, status, explain, features)``, without a newline."""
        return to_json(decision_dict(rec, verdict, status, explain, self.features))
