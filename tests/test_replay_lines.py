"""Replay's output lines read back as the decision dicts, and records read the same with or without orjson."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import pytest

from gateway.frontdoors.replay import (
    DEMO_CONFIG,
    Problems,
    decide_records,
    read_records,
    replay,
    replay_settings,
)
from gateway.frontdoors.responses import render, status_of
from gateway.offline import records
from gateway.offline.decisions import (
    TOKEN_BIRTH,
    UNPROTECTED,
    DecisionLines,
    decision_dict,
    to_json,
)
from gateway.offline.personas import Persona
from gateway.offline.records import Record, RecordError, parse_record, record_from_dict
from gateway.offline.scenarios import Scenario, build
from gateway.settings import Route, load_settings
from gateway.verdict import Decision, Verdict

SMALL = Scenario("lines", "tune", 2.0, 1_709_510_400.0 + 12 * 3600,
                 (Persona("home_broadband", 6), Persona("mobile_cgnat", 6), Persona("like_farm", 1, "crude", 20)))


def reference(value: object) -> str:
    """json's text of the value, the meaning a line must keep."""
    return json.dumps(value, separators=(",", ":"), default=str)


def finite(value: object) -> object:
    """The value with NaN and infinities as None: a line spells them null, which readers take as absent."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def reads_as(line: str, value: object) -> bool:
    """The line is one line of UTF-8 JSON whose content is the value's."""
    line.encode("utf-8")  # no lone surrogate: a decisions file is UTF-8
    return "\n" not in line and finite(json.loads(line)) == finite(json.loads(reference(value)))


def record(**change: object) -> Record:
    base = {"id": "r1", "ts": 1_709_510_400.25, "method": "POST", "path": "/v1/media/m1/like", "client": "127.0.0.1",
            "headers": {"user-agent": "x"}, "label": "abuse", "meta": {"family": "like_farm"}}
    return record_from_dict({**base, **change}, 1)


ODD_META = [None, {}, [], "plain", 0, -7, 2**70, 1e-05, 5e-06, 1.5e16, 0.1, -0.0, float("nan"), float("inf"),
            True, {"é": "ünïcode ☃ \U0001f600", "ctl": "\x00\x1f\x7f\"\\/"}, {"nested": [1, 2.5, None, {"x": [False]}]},
            {"a": 1, "b": {"c": "d"}}, "\u2028", "\udcff: a byte that was not UTF-8", {"n": [2**70, float("nan")]}]


@pytest.mark.parametrize("meta", ODD_META)
@pytest.mark.parametrize("features", [False, True])
def test_lines_read_back_as_the_decision_dicts_for_odd_values(meta: object, features: bool) -> None:
    lines = DecisionLines(features)
    rec = dataclasses.replace(record(), meta=meta)
    verdicts = [
        Verdict("d-1", Decision.BLOCK, True, rules=["farm-shared-device", "threshold:block"], risk=71.234567,
                score=0.61795801, explain="block by farm-shared-device (ip.accounts_1h=12) é", features={"a": 1e-05}),
        Verdict("d-2", Decision.ALLOW, False, shadow_rules=["account-impossible-travel"], risk=0.0, score=5e-07,
                features={"n": float("nan"), "i": float("inf"), "s": "\x7f", "big": 2**70}),
        Verdict("d-3", Decision.CHALLENGE, True, risk=60, score=None, features=None),
        Verdict("d-4", Decision.THROTTLE, True, rules=["r"], risk=float("inf"), score=float("nan")),
    ]
    for v in verdicts:
        line = lines.encode(rec, v, 403, "")
        assert reads_as(line, decision_dict(rec, v, 403, "", features)), line
        assert list(json.loads(line)) == list(decision_dict(rec, v, 403, "", features)), "keys in the dict's order"
    for explain in (UNPROTECTED, TOKEN_BIRTH):
        assert reads_as(lines.encode(rec, None, 200, explain), decision_dict(rec, None, 200, explain, features))
    assert reads_as(to_json(meta), meta)


def test_lines_of_unlabelled_records_and_other_labels() -> None:
    lines = DecisionLines()
    v = Verdict("d", Decision.LOG, True, rules=["x"])
    for label in (None, "benign", "abuse"):
        rec = dataclasses.replace(record(), label=label)
        assert reads_as(lines.encode(rec, v, 200, ""), decision_dict(rec, v, 200, ""))


async def test_replay_writes_the_decision_dicts(tmp_path) -> None:
    settings = replay_settings(load_settings(DEMO_CONFIG))
    traffic = [line + "\n" for line in build(SMALL, 3).lines()]
    for features in (False, True):
        out = io.StringIO()
        summary = await replay(settings, traffic, out, features=features)
        dicts = [d async for _, d, _ in decide_records(settings, read_records(traffic, strict=True, problems=Problems()),
                                                       features=features)]
        assert out.getvalue() == "".join(to_json(d) + "\n" for d in dicts)
        assert all(reads_as(line, d) for line, d in zip(out.getvalue().splitlines(), dicts, strict=True))
        assert summary["lines_read"] == summary["valid"] == len(traffic) and summary["actions"] > len(traffic) / 2
        assert summary["decisions"].get("block", 0) > 0, "the farm is blocked: the lines above carry real verdicts"


def test_the_status_alone_is_the_one_render_answers_with() -> None:
    routes = [None, Route("/v1/media/{media_id}/like", "like", target="media_id"),
              Route("/v1/x", "x", absorb_status=202, absorb_body='{"queued": true}')]
    for route in routes:
        for decision in Decision:
            for enforced in (True, False):
                for extra in ({}, {"retry_after": 7, "auth_error": "invalid_token"}):
                    v = Verdict("id", decision, enforced, **extra)
                    rendered = render(v, route)
                    assert status_of(v, route) == (None if rendered is None else rendered[0]), (decision, enforced)


GOOD = {"id": "r1", "ts": 1700000000.5, "method": "POST", "path": "/v1/media/m42/like", "client": "127.0.0.1",
        "headers": {"User-Agent": "x"}, "label": "abuse", "meta": {"family": "like_farm"}}


def as_json_alone(text: str, line: int) -> Record:
    """A record as json alone reads it (the reference orjson must match)."""
    fast, records._fast_loads = records._fast_loads, None
    try:
        return parse_record(text, line)
    finally:
        records._fast_loads = fast


@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    json.dumps({**GOOD, "meta": {"n": 2**70, "m": -(2**64), "k": 2**63}}),  # orjson would read 2**70 as a float
    json.dumps({**GOOD, "meta": [1.5, {"x": 1e-05}]}),
    json.dumps({**GOOD, "meta": 123456789012345678901234567890}),
    json.dumps({**GOOD, "ts": 1700000000}),
    json.dumps({**GOOD, "ts": 17000000000000000000000}),
    json.dumps({**GOOD, "meta": "\ud800 lone surrogate"}),  # escaped in the line: json reads it, orjson refuses
    json.dumps({**GOOD, "meta": {"é": "☃"}}, ensure_ascii=False),
    json.dumps({**GOOD, "meta": float("nan")}),  # NaN: json's extension
    '{"id":"a","id":"b","ts":1,"method":"GET","path":"/","client":"c","headers":{},"meta":{"x":1,"y":2,"x":3}}',
    "  " + json.dumps(GOOD) + " \n",
])
def test_orjson_reads_a_line_as_json_does(text: str) -> None:
    assert repr(parse_record(text, 7)) == repr(as_json_alone(text, 7))


@pytest.mark.parametrize(("text", "message"), [
    ("{nope", "line 9: json: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("[1, 2]", "line 9: json: each line must be a JSON object"),
    (json.dumps({**GOOD, "ts": float("nan")}), "line 9: ts: required, a number of seconds since the epoch"),
    (json.dumps({**GOOD, "label": 123456789012345678901234567890}),
     "line 9: label: 123456789012345678901234567890 is not one of abuse, benign"),
    (json.dumps({**GOOD, "label": 1e-05}), "line 9: label: 1e-05 is not one of abuse, benign"),
    ('{"id": ' * 5000, None),
    ("[" * 100_000 + "]" * 100_000, "line 9: json: not valid JSON (nested too deep to parse)"),
])
def test_errors_read_as_json_words_them(text: str, message: str | None) -> None:
    with pytest.raises(RecordError) as err:
        parse_record(text, 9)
    if message is not None:
        assert str(err.value) == message
    with pytest.raises(RecordError) as alone:
        as_json_alone(text, 9)
    assert str(err.value) == str(alone.value)


def test_without_orjson_the_same_records(monkeypatch) -> None:
    lines = [line + "\n" for line in build(SMALL, 5).lines()]
    fast = [repr(r) for r in read_records(lines, strict=True, problems=Problems())]
    monkeypatch.setattr(records, "_fast_loads", None)
    assert [repr(r) for r in read_records(lines, strict=True, problems=Problems())] == fast


def test_blank_lines_are_skipped_and_counted_in_line_numbers() -> None:
    lines = ["\n", json.dumps(GOOD), "   \t \n", "", "nope", json.dumps({**GOOD, "id": "r2"})]
    problems = Problems()
    assert [(r.id, r.line) for r in read_records(lines, strict=False, problems=problems)] == [("r1", 2), ("r2", 6)]
    assert [p.line for p in problems] == [5]


class Text(str):
    pass


PLAIN = {"ip.accounts_1h": 12, "net.class": "residential", "client_id": "engage-android", "session.known": True,
         "session.age_s": 580.8949999809265, "model.score": 0.6179580181797549, "travel_km": 0.0, "neg": -0.0,
         "big": 2**63, "large": 1.2345678901234568e+17, "huge": 1e22, "edge": 0.0001, "tiny_text": "x9e-1 0.0000 null"}


@pytest.mark.parametrize("extra", [
    {}, {"s": 1e-05}, {"s": -1.5e-05}, {"s": 5e-06}, {"s": 9.999999999999999e-05}, {"s": 3.778e-05}, {"s": 1e-300},
    {"s": 5e-324}, {"s": float("nan")}, {"s": float("inf")}, {"s": float("-inf")}, {"s": "é"}, {"s": "\x7f"},
    {"s": "\u2028"}, {"s": "\x00\x1f\n\t\"\\"}, {"s": 2**64}, {"s": -(2**63) - 1}, {"s": None}, {"s": [1e-05]},
    {"s": {"t": 5e-06}}, {"s": Text("x")}, {1: "int key"}, {Text("k"): 1}, {"s": "\udcff"},
])
def test_feature_dicts_read_back_as_they_were(extra: dict) -> None:
    for value in ({**PLAIN, **extra}, {**extra, **PLAIN}, extra):
        assert reads_as(to_json(value), value)


def test_lines_are_strict_json_and_utf_8() -> None:
    # orjson's text: null for NaN (no NaN token), UTF-8 rather than \u escapes, floats that read back exactly
    value = {"nan": float("nan"), "text": "é ☃", "small": 1.874722990434318e-05, "big": 1.2345678901234568e+17}
    line = to_json(value)
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON")) == {**value, "nan": None}
    assert "é ☃" in line


async def test_a_strict_stop_keeps_every_decision_before_the_bad_line() -> None:
    # Records are read ahead a batch at a time: a bad line far into one still comes after its predecessors' decisions.
    settings = replay_settings(load_settings(DEMO_CONFIG))
    larger = Scenario("strict", "tune", 4.0, SMALL.start, (Persona("home_broadband", 12), Persona("mobile_cgnat", 12),
                                                          Persona("like_farm", 1, "crude", 40)))
    traffic = [line + "\n" for line in build(larger, 11).lines()]
    bad_at = 300
    assert len(traffic) > bad_at + 50
    stopped = io.StringIO()
    with pytest.raises(RecordError, match=f"line {bad_at + 1}: ts:"):
        await replay(settings, traffic[:bad_at] + ['{"id": "x", "ts": "soon"}\n'] + traffic[bad_at:], stopped,
                     strict=True)
    before = io.StringIO()
    await replay(settings, traffic[:bad_at], before)
    assert stopped.getvalue() == before.getvalue() and before.getvalue().count("\n") == bad_at
