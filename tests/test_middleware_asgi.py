"""The middleware's own work around the engine: pass-through, header map, request facts, rendered answers."""

from __future__ import annotations

import dataclasses
import gc
import json
import tracemalloc

import pytest

from gateway.demo.app import DEMO_CONFIG, issue_token
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.frontdoors.asgi import header_map, send_raw_response, send_response
from gateway.frontdoors.middleware import GatewayMiddleware
from gateway.frontdoors.responses import render
from gateway.messages import default_catalogue
from gateway.settings import load_settings
from gateway.verdict import Decision, Verdict

APP_UA = b"Engage/412.0.1 (Android 14; Pixel 8; en_US)"


def quiet_settings(**changes):
    s = load_settings(DEMO_CONFIG)
    return dataclasses.replace(s, log=dataclasses.replace(s.log, sink=None), **changes)


class Recorder:
    """An ASGI app that answers 200 and keeps what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, object, object]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append((scope, receive, send))
        if scope["type"] == "http":
            await send_response(send, 200, [("content-type", "text/plain")], b"app")


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80)}


async def call(app, scope) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/feed"), ("GET", "/v1/media/m1/like"),
                                              ("POST", "/v1/feed"), ("POST", "/v1/media/m1/like/extra")])
async def test_unprotected_requests_reach_the_app_untouched_and_start_nothing(method, path):
    app = Recorder()
    engine = Engine(quiet_settings())
    gateway = GatewayMiddleware(app, engine=engine)
    scope = http_scope(method, path, [(b"user-agent", APP_UA)])
    sent = await call(gateway, scope)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"app"
    assert app.calls[0][0] is scope  # the very scope, not a copy
    assert not engine.started  # no decision, so nothing to start


async def test_websocket_scopes_pass_straight_through():
    app = Recorder()
    gateway = GatewayMiddleware(app, engine=Engine(quiet_settings()))
    scope = {"type": "websocket", "path": "/v1/media/m1/like", "headers": []}

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        pass

    await gateway(scope, receive, send)
    assert app.calls == [(scope, receive, send)]


async def test_a_protected_request_is_decided_and_the_answer_rendered():
    engine = Engine(quiet_settings())
    app = Recorder()
    gateway = GatewayMiddleware(app, engine=engine)
    try:
        sent = await call(gateway, http_scope("POST", "/v1/media/m1/like", [(b"user-agent", APP_UA)]))
        assert engine.started
        assert app.calls == []  # no token: the app is never called
        assert sent[0]["status"] == 401
        headers = dict(sent[0]["headers"])
        assert headers[b"www-authenticate"].startswith(b'Bearer realm="gateway"')
        assert int(headers[b"content-length"]) == len(sent[1]["body"])
        body = json.loads(sent[1]["body"])
        assert body["decision_id"] == headers[b"x-gateway-decision-id"].decode()

        token = issue_token("alice", client_id="engage-android", device_id="dev-1")
        sent = await call(gateway, http_scope("POST", "/v1/media/m1/like", [
            (b"user-agent", APP_UA), (b"Authorization", f"Bearer {token}".encode()), (b"x-device-id", b"dev-1")]))
        assert sent[0]["status"] == 200 and sent[1]["body"] == b"app"
        assert len(app.calls) == 1
    finally:
        await engine.close()


async def test_behind_a_root_path_the_route_the_app_runs_is_the_one_checked():
    """uvicorn --root-path /api puts /api in front of the path; Starlette routes on the path without it."""
    engine = Engine(quiet_settings())
    app = Recorder()
    gateway = GatewayMiddleware(app, engine=engine)
    try:
        for path, root in (("/api/v1/media/m1/like", "/api"), ("/v1/media/m1/like", "/api")):
            scope = {**http_scope("POST", path, [(b"user-agent", APP_UA)]), "root_path": root}
            sent = await call(gateway, scope)
            assert sent[0]["status"] == 401 and app.calls == [], path
        sent = await call(gateway, {**http_scope("POST", "/api/v1/feed", [(b"user-agent", APP_UA)]), "root_path": "/api"})
        assert sent[0]["status"] == 200 and len(app.calls) == 1
    finally:
        await engine.close()


def test_header_map_lowers_names_and_joins_repeats_in_order():
    scope = {"headers": [(b"X-Forwarded-For", b"1.2.3.4"), (b"Accept", b"a/b"), (b"x-forwarded-for", b"5.6.7.8"),
                         (b"X-FORWARDED-FOR", b"9.9.9.9"), (b"user-agent", "caf\u00e9".encode("latin-1"))]}
    assert header_map(scope) == {"x-forwarded-for": "1.2.3.4, 5.6.7.8, 9.9.9.9", "accept": "a/b", "user-agent": "caf\u00e9"}
    assert header_map(scope) == header_map(scope)  # the second time from the name cache, the same


async def test_a_flood_of_invented_header_names_leaves_no_memory_behind():
    """Header names are decoded once and remembered; names a client invents must not be remembered without end."""
    settings = quiet_settings()  # without the admin recorder, which holds the last requests it has not written yet
    engine = Engine(dataclasses.replace(settings, admin=dataclasses.replace(settings.admin, record=False)))
    gateway = GatewayMiddleware(Recorder(), engine=engine)

    async def flood(batch: int) -> None:  # 20,000 names no client sent before, 200 to a request
        for r in range(100):
            names = [f"X-Invented-{batch}-{r}-{i}".encode() for i in range(200)]
            sent = await call(gateway, http_scope("POST", "/v1/media/m1/like", [(n, b"v") for n in names]))
            assert sent[0]["status"] == 401  # decided (no token): the headers went through the engine's path

    try:
        await flood(0)  # whatever is remembered fills up here, and the engine warms up
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for batch in (1, 2, 3):
                await flood(batch)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # Remembering the 60,000 names would hold several megabytes.
        assert grown < 256 * 1024, f"{grown} bytes held after 60,000 invented header names"
    finally:
        await engine.close()


async def test_raw_responses_add_the_content_length_and_leave_the_headers_alone():
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    headers = [(b"x-a", b"1")]
    await send_raw_response(send, 200, headers)
    await send_raw_response(send, 403, headers, b"{}")
    assert headers == [(b"x-a", b"1")]
    assert sent[0]["headers"] == [(b"x-a", b"1"), (b"content-length", b"0")]
    assert sent[2]["headers"] == [(b"x-a", b"1"), (b"content-length", b"2")] and sent[3]["body"] == b"{}"


def test_request_facts_are_built_by_position_or_name_and_stay_frozen():
    a = RequestFacts(1.0, "POST", "/p", "127.0.0.1", {"a": "b"}, "like", "m1", "q=1")
    b = RequestFacts(ts=1.0, method="POST", path="/p", peer="127.0.0.1", headers={"a": "b"}, action="like",
                     target="m1", query="q=1")
    assert a == b and a.body == b"" and a.request_id is None and a.extra == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.path = "/other"  # type: ignore[misc]
    # every field can be given by name, and lands where it is named (replace builds by name)
    changes = {"ts": 2.0, "method": "GET", "path": "/q", "peer": "10.0.0.1", "headers": {"c": "d"}, "action": None,
               "target": None, "query": "", "body": b"x", "request_id": "r1", "extra": {"scheme": "https"}}
    assert set(changes) == {f.name for f in dataclasses.fields(RequestFacts)}
    for name, value in changes.items():
        changed = dataclasses.replace(a, **{name: value})
        assert getattr(changed, name) == value
        assert all(getattr(changed, other) == getattr(a, other) for other in changes if other != name)
    assert RequestFacts(0.0, "GET", "/", "", {}, extra={"k": 1}).extra == {"k": 1}


@pytest.mark.parametrize(("decision", "status", "family"), [
    (Decision.BLOCK, 403, "third_party_app"),
    (Decision.THROTTLE, 429, "too_fast"),
    (Decision.CHALLENGE, 401, "verify_identity"),
])
@pytest.mark.parametrize("decision_id", ["1a2b3c4d-7f", 'odd"\\id\u00e9'])
def test_rendered_problem_bodies_are_exactly_the_json_of_the_whole_object(decision, status, family, decision_id):
    rendered = render(Verdict(decision_id=decision_id, decision=decision, enforced=True), None)
    assert rendered is not None and rendered[0] == status
    problem = default_catalogue().problem(family, None, decision_id)
    assert problem.type == "urn:gateway:problem:" + family.replace("_", "-") and decision_id in problem.detail
    assert rendered[2] == json.dumps({"type": problem.type, "title": problem.title, "status": status,
                                      "detail": problem.detail, "decision_id": decision_id}, ensure_ascii=False).encode()


@pytest.mark.parametrize("decision_id", ["1a2b3c4d-7f", 'odd"\\id\u00e9'])
def test_an_unauthenticated_body_is_the_plain_problem(decision_id):
    rendered = render(Verdict(decision_id=decision_id, decision=Decision.UNAUTHENTICATED, enforced=True), None)
    assert rendered is not None and rendered[0] == 401
    assert rendered[2] == json.dumps({"type": "about:blank", "title": "Unauthorized", "status": 401,
                                      "detail": "A valid access token is required.", "decision_id": decision_id}).encode()
