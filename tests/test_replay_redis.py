"""Replay on the Redis backend, where every exchange waits on the network, decides as the memory backend does."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid

from redis_support import REDIS_URL, drop_keys, redis_or_skip

from gateway.frontdoors.replay import DEMO_CONFIG, replay, replay_settings
from gateway.offline.personas import Persona
from gateway.offline.scenarios import Scenario, build
from gateway.settings import load_settings

SMALL = Scenario("redis", "tune", 2.0, 1_709_510_400.0 + 12 * 3600,
                 (Persona("home_broadband", 4), Persona("mobile_cgnat", 4), Persona("like_farm", 1, "crude", 15)))


async def test_replay_through_redis_decides_as_memory_does() -> None:
    probe = await redis_or_skip()
    memory = replay_settings(load_settings(DEMO_CONFIG))
    prefix = f"gwreplay-{uuid.uuid4().hex[:12]}"
    # A generous timeout: a slow round trip must not fall back to local state and change a decision.
    on_redis = dataclasses.replace(memory, state=dataclasses.replace(
        memory.state, backend="redis", url=REDIS_URL, prefix=prefix, timeout_ms=5000.0))
    traffic = [line + "\n" for line in build(SMALL, 2).lines()]
    outputs = []
    try:
        for settings in (on_redis, memory):
            out = io.StringIO()
            await replay(settings, traffic, out)
            outputs.append([json.loads(line) for line in out.getvalue().splitlines()])
        keys = [k async for k in probe.scan_iter(match=f"{prefix}:*", count=500)]
        assert keys, "the Redis replay kept its state in Redis"
    finally:
        await drop_keys(probe, prefix)
        await probe.aclose()
    redis_lines, memory_lines = outputs
    assert len(redis_lines) == len(memory_lines) == len(traffic)
    for r, m in zip(redis_lines, memory_lines, strict=True):
        assert (r["id"], r["decision"], r["enforced"], r["status"], r["rules"]) == \
            (m["id"], m["decision"], m["enforced"], m["status"], m["rules"])
    assert any(m["decision"] == "block" for m in memory_lines)
