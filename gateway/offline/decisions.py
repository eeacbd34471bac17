"""Replay's output: one decision line per record, as a dict and as its JSON text.

``decision_dict`` is the line's content; ``DecisionLines.encode`` writes the
same line as ``json.dumps(decision_dict(...), separators=(",", ":"),
default=str)`` would, byte for byte, without building the dict: the fields
whose type the engine fixes (decision, flags, numbers, rule lists) are
encoded directly or remembered, and only the free-form values (id, explain,
meta, features) go through the JSON encoder.
"""

from __future__ import annotations

import json
import json.encoder
from typing import Any

from gateway.offline.records import Record
from gateway.verdict import Decision, Verdict

try:  # a faster writer, used where its text is json's (see flat_to_json)
    from orjson import dumps as _fast_dumps
except ImportError:  # pragma: no cover - orjson is a dependency; json alone writes the same lines
    _fast_dumps = None

UNPROTECTED = "unprotected: no protected route or token endpoint matches"
TOKEN_BIRTH = "token endpoint: session birth observed"

_quote = json.encoder.encode_basestring_ascii
_float_repr = float.__repr__  # what the encoder writes for a finite float
_int_repr = int.__repr__
_REMEMBERED_LISTS = 4096  # distinct rule lists kept encoded; a replay sees a few hundred


def _compact_encoder() -> Any:
    # The C encoder json.dumps builds on every call, built once: the same
    # output without rebuilding it per value.
    make = json.encoder.c_make_encoder
    if make is None:  # no C accelerator in this Python: the plain encoder
        return json.JSONEncoder(separators=(",", ":"), default=str).encode
    encode = make(None, str, _quote, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


to_json = _compact_encoder()
"""``json.dumps(value, separators=(",", ":"), default=str)`` for values without reference cycles."""


_PLAIN = frozenset({str, int, float, bool})


def flat_to_json(value: dict[str, Any]) -> str:
    """``to_json(value)``, through orjson when it writes the same text: for a flat dict of plain values.

    A feature line holds some hundred numbers, and json spells each float
    slowly. orjson writes what json writes for str keys and str, int, float
    and bool values, except: non-ASCII text and DEL (json escapes them),
    floats under 1e-4 (json 1e-05 and 5e-06, orjson 0.00001 and 5e-6), NaN
    and infinities (json NaN, orjson null), and integers past 64 bits (orjson
    refuses). Where its text shows any of those, json writes the dict.
    """
    if _fast_dumps is None or not _PLAIN.issuperset(map(type, value.values())):
        return to_json(value)
    try:
        raw = _fast_dumps(value)
    except TypeError:  # an integer past 64 bits, a key that is not str
        return to_json(value)
    if _may_read_differently(raw):
        return to_json(value)
    return raw.decode()


def _may_read_differently(raw: bytes) -> bool:
    if not raw.isascii() or b"\x7f" in raw or b"0.0000" in raw or b"null" in raw:
        return True
    at = raw.find(b"e-")
    while at > 0:  # an exponent follows a digit; in text (engage-android) it mostly does not
        if 48 <= raw[at - 1] <= 57:
            return True
        at = raw.find(b"e-", at + 2)
    return False


def decision_dict(rec: Record, verdict: Verdict | None, status: int, explain: str, features: bool = False
                  ) -> dict[str, Any]:
    """The decision line of ``rec``; ``verdict`` None for a record that passed without a decision."""
    if verdict is None:
        return {"id": rec.id, "ts": rec.ts, "decision": "allow", "enforced": False, "status": status, "risk": 0.0,
                "score": None, "rules": [], "shadow_rules": [], "explain": explain, "label": rec.label,
                "meta": rec.meta}
    out = {
        "id": rec.id, "ts": rec.ts, "decision": str(verdict.decision), "enforced": verdict.enforced,
        "status": status, "risk": round(verdict.risk, 4),
        "score": None if verdict.score is None else round(verdict.score, 6),
        "rules": list(verdict.rules), "shadow_rules": list(verdict.shadow_rules),
        "explain": verdict.explain, "label": rec.label, "meta": rec.meta,
    }
    if features:
        out["features"] = verdict.features or {}
    return out


class DecisionLines:
    """Encodes decision lines; remembers the encodings of decisions, labels and rule lists."""

    def __init__(self, features: bool = False) -> None:
        self.features = features
        self._decisions = {d: _quote(d.value) for d in Decision}
        self._labels: dict[Any, str] = {None: "null", "abuse": '"abuse"', "benign": '"benign"'}
        self._lists: dict[tuple[Any, ...], str] = {(): "[]"}
        self._passed: dict[str, str] = {}

    def encode(self, rec: Record, verdict: Verdict | None, status: int, explain: str) -> str:
        """The JSON text of ``decision_dict(rec, verdict, status, explain, features)``, without a newline."""
        label = self._labels.get(rec.label) if type(rec.label) is str or rec.label is None else None
        if label is None:
            label = to_json(rec.label)
        head = f'{{"id":{_text(rec.id)},"ts":{_number(rec.ts)},'
        tail = f',"label":{label},"meta":{to_json(rec.meta)}'
        if verdict is None:
            passed = self._passed.get(explain)
            if passed is None:
                passed = self._passed[explain] = f',"risk":0.0,"score":null,"rules":[],"shadow_rules":[],"explain":{_text(explain)}'
            return f'{head}"decision":"allow","enforced":false,"status":{_number(status)}{passed}{tail}}}'
        decision = self._decisions.get(verdict.decision)
        if decision is None:
            decision = _text(str(verdict.decision))
        enforced = verdict.enforced
        score = verdict.score
        line = (f'{head}"decision":{decision},"enforced":{_flag(enforced)},"status":{_number(status)},'
                f'"risk":{_number(round(verdict.risk, 4))},"score":{"null" if score is None else _number(round(score, 6))},'
                f'"rules":{self._list(verdict.rules)},"shadow_rules":{self._list(verdict.shadow_rules)},'
                f'"explain":{_text(verdict.explain)}{tail}')
        if self.features:
            return f'{line},"features":{flat_to_json(verdict.features or {})}}}'
        return line + "}"

    def _list(self, items: list[Any]) -> str:
        key = tuple(items)
        text = self._lists.get(key)
        if text is None:
            text = to_json(items)
            # Only lists of plain strings: a key of 1 would also find True's entry.
            if all(type(x) is str for x in key):
                if len(self._lists) >= _REMEMBERED_LISTS:
                    self._lists.clear()
                self._lists[key] = text
        return text


def _text(value: Any) -> str:
    return _quote(value) if type(value) is str else to_json(value)


def _number(value: Any) -> str:
    kind = type(value)
    if kind is float and value - value == 0.0:  # finite: NaN and infinities are the encoder's to spell
        return _float_repr(value)
    if kind is int:
        return _int_repr(value)
    return to_json(value)


def _flag(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return to_json(value)
