"""Replay's settings: no reloading, another rule set on request, and Redis given time to answer exactly."""

from __future__ import annotations

import dataclasses

from gateway.demo.app import DEMO_CONFIG
from gateway.frontdoors.replay import REPLAY_STATE_TIMEOUT_MS, replay_settings
from gateway.settings import load_settings


def test_a_backtest_on_redis_waits_for_its_answers_instead_of_degrading() -> None:
    base = load_settings(DEMO_CONFIG)
    on_redis = dataclasses.replace(base, state=dataclasses.replace(base.state, backend="redis", timeout_ms=50.0))
    replayed = replay_settings(on_redis)
    assert replayed.state.timeout_ms == REPLAY_STATE_TIMEOUT_MS and replayed.reload is False
    assert replay_settings(base).state == base.state  # the memory backend has nothing to wait for
