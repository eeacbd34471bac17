"""The replay record format: parsing, validation errors that name the line and field, facts."""

from __future__ import annotations

import json

import pytest

from gateway.frontdoors.replay import DEMO_CONFIG, Problems, read_records, record_request
from gateway.offline.records import RecordError, parse_record
from gateway.routes import RouteTable
from gateway.settings import load_settings

GOOD = {"id": "r1", "ts": 1700000000.5, "method": "post", "path": "/v1/media/m42/like?src=feed",
        "client": "127.0.0.1", "headers": {"User-Agent": "x", "x-forwarded-for": "11.1.0.9"},
        "body": "", "response": {"status": 200, "headers": {}, "body": "{}"}, "label": "abuse",
        "meta": {"family": "like_farm"}}


def test_a_good_line_parses_and_passes_meta_through() -> None:
    rec = parse_record(json.dumps(GOOD), 3)
    assert rec.method == "POST" and rec.headers["user-agent"] == "x" and rec.line == 3
    assert rec.meta == {"family": "like_farm"} and rec.response and rec.response.status == 200


@pytest.mark.parametrize(("change", "field"), [
    ({"id": None}, "id"),
    ({"ts": "yesterday"}, "ts"),
    ({"ts": True}, "ts"),
    ({"method": ""}, "method"),
    ({"path": "v1/like"}, "path"),
    ({"client": 5}, "client"),
    ({"headers": ["a"]}, "headers"),
    ({"headers": {"a": 1}}, "headers.a"),
    ({"body": {"x": 1}}, "body"),
    ({"response": {"status": 99}}, "response.status"),
    ({"response": {"status": 200, "body": 3}}, "response.body"),
    ({"label": "spam"}, "label"),
])
def test_a_bad_field_is_named_with_its_line(change: dict, field: str) -> None:
    with pytest.raises(RecordError) as err:
        parse_record(json.dumps({**GOOD, **change}), 12)
    assert err.value.line == 12 and err.value.field == field
    assert str(err.value).startswith(f"line 12: {field}: ")


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(RecordError, match="line 4: json: not valid JSON"):
        parse_record("{nope", 4)
    with pytest.raises(RecordError, match="line 5: json: each line must be a JSON object"):
        parse_record("[1, 2]", 5)


def test_read_records_skips_or_raises() -> None:
    lines = [json.dumps(GOOD), "garbage", "", json.dumps({**GOOD, "id": "r2"})]
    problems = Problems()
    assert [r.id for r in read_records(lines, strict=False, problems=problems)] == ["r1", "r2"]
    assert [p.line for p in problems] == [2]
    with pytest.raises(RecordError, match="line 2"):
        list(read_records(lines, strict=True, problems=Problems()))


def test_facts_use_the_route_table() -> None:
    routes = RouteTable(load_settings(DEMO_CONFIG))
    _, facts, hit, token = record_request(parse_record(json.dumps(GOOD), 1), routes.match)
    assert hit is not None and facts.action == "like" and facts.target == "m42"
    assert facts.path == "/v1/media/m42/like" and facts.query == "src=feed" and facts.request_id == "r1"
    assert token is None
    _, login, hit, token = record_request(parse_record(json.dumps({**GOOD, "path": "/oauth/token"}), 2), routes.match)
    assert hit is not None and hit.route is None and login.action is None
    assert token is not None and token.status == 200 and token.body == b"{}"
    _, other, hit, token = record_request(parse_record(json.dumps({**GOOD, "path": "/health"}), 3), routes.match)
    assert hit is None and other.action is None and token is None
