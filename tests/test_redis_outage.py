"""A whole engine on its own redis-server: killed mid-traffic it keeps deciding, degraded, then recovers."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from redis_support import free_port, start_redis
from test_redis_replicas import campaign, settings

from gateway.engine import Engine
from gateway.verdict import Decision

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


async def test_engine_keeps_deciding_through_a_redis_outage_and_recovers(tmp_path: Path) -> None:
    port = free_port()
    server = start_redis(port)
    state = {"backend": "redis", "url": f"redis://127.0.0.1:{port}/0", "prefix": "gwout", "timeout_ms": 200.0,
             "breaker_failures": 2, "breaker_reset_s": 0.5}
    engine = Engine(settings(tmp_path, state), record_features=True, decision_log=False)
    requests = campaign(float(int(time.time())))
    await engine.start()
    try:
        before = [await engine.decide(facts) for facts in requests[:4]]
        assert [v.degraded for v in before] == [False] * 4
        assert before[-1].features["prefix.accounts_10m"] == 4

        server.kill()
        server.wait()
        during = [await engine.decide(facts) for facts in requests[4:8]]  # decide() never raises
        assert all(v.degraded for v in during)
        assert all(v.decision is Decision.ALLOW and "engine fault" not in v.explain for v in during)
        # the local fallback holds only what it saw during the outage
        assert [v.features["prefix.accounts_10m"] for v in during] == [1, 2, 3, 4]
        assert engine.store.breaker.state == "open"

        server = start_redis(port)  # same port, empty server
        await asyncio.sleep(0.6)  # past breaker_reset_s: the next request probes
        after = [await engine.decide(facts) for facts in requests[8:]]
        assert not any(v.degraded for v in after)
        assert engine.store.breaker.state == "closed"
        # the shared state is Redis's again: the fresh server counts from the recovery on
        assert [v.features["prefix.accounts_10m"] for v in after] == list(range(1, len(after) + 1))
    finally:
        await engine.close()
        server.kill()
        server.wait()


async def test_fail_closed_challenges_when_redis_is_unreachable(tmp_path: Path) -> None:
    state = {"backend": "redis", "url": f"redis://127.0.0.1:{free_port()}/0", "timeout_ms": 100.0,
             "breaker_failures": 1, "breaker_reset_s": 60.0, "fail_closed": True}
    engine = Engine(settings(tmp_path, state), decision_log=False)
    await engine.start()
    try:
        verdicts = [await engine.decide(facts) for facts in campaign(float(int(time.time())))[:3]]
    finally:
        await engine.close()
    assert all(v.degraded and v.decision is Decision.CHALLENGE for v in verdicts)
    assert "state.fail_closed" in verdicts[0].explain
    assert engine.store.round_trips == 1  # the breaker opened on the first failure: no more attempts
