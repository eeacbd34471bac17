"""The engine's metrics: each refused token counted once; replay's engines (metrics=False) count nothing."""

from __future__ import annotations

import dataclasses
import time

from gateway.demo.app import DEMO_CONFIG, issue_token
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.metrics import AUTH_FAILURES, REQUESTS, RULE_HITS, STICKY_REPEATS
from gateway.settings import load_settings


def like(token: str | None, ts: float) -> RequestFacts:
    headers = {"user-agent": "Engage/412.0.1 (Android 14; Pixel 8)"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return RequestFacts(ts=ts, method="POST", path="/v1/media/m1/like", peer="127.0.0.1", headers=headers,
                        action="like", target="m1")


def count(metric, *labels: str) -> float:
    return metric.labels(*labels)._value.get()


async def test_a_refused_token_is_counted_once_and_a_backtest_counts_nothing() -> None:
    settings = dataclasses.replace(load_settings(DEMO_CONFIG), reload=False)
    now = time.time()
    serving = Engine(settings, decision_log=False)
    await serving.start()
    try:
        before = count(AUTH_FAILURES, "missing")
        assert (await serving.decide(like(None, now))).decision.value == "unauthenticated"
        assert count(AUTH_FAILURES, "missing") == before + 1
    finally:
        await serving.close()

    backtest = Engine(settings, decision_log=False, metrics=False)
    await backtest.start()
    try:
        served = count(REQUESTS, "like", "allow", "true")
        token = issue_token("alice", client_id="engage-android", device_id="dev-1", now=now)
        assert (await backtest.decide(like(token, now + 1))).decision.value == "allow"
        assert count(REQUESTS, "like", "allow", "true") == served
    finally:
        await backtest.close()


async def test_a_sticky_decision_answering_again_is_counted_as_a_repeat(tmp_path) -> None:
    """The rule's hit is counted once, when it decides; each later request its sticky decision answers is a repeat."""
    (tmp_path / "p.yaml").write_text(
        "pack: p\nrules:\n"
        "  - id: pin-the-session\n    description: d\n    on: [like]\n    when: action == \"like\"\n"
        "    action: block\n    sticky: {scope: session, for: 1h}\n"
    )
    settings = dataclasses.replace(load_settings(DEMO_CONFIG), reload=False, rules=(str(tmp_path),), model=None)
    now = time.time()
    engine = Engine(settings, decision_log=False)
    await engine.start()
    try:
        hits, repeats = count(RULE_HITS, "pin-the-session", "enforce"), count(STICKY_REPEATS, "pin-the-session", "session")
        token = issue_token("carol", client_id="engage-android", device_id="dev-9", now=now)
        verdicts = [await engine.decide(like(token, now + i)) for i in range(5)]
        assert [v.decision.value for v in verdicts] == ["block"] * 5
        assert [v.sticky for v in verdicts] == [False, True, True, True, True]
        assert count(RULE_HITS, "pin-the-session", "enforce") == hits + 1
        assert count(STICKY_REPEATS, "pin-the-session", "session") == repeats + 4
    finally:
        await engine.close()
