"""The engine's metrics: each refused token counted once; replay's engines (metrics=False) count nothing."""

from __future__ import annotations

import dataclasses
import time

from gateway.demo.app import DEMO_CONFIG, issue_token
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.metrics import AUTH_FAILURES, REQUESTS
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
