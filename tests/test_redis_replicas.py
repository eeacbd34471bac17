"""Two gateway replicas on one Redis see one campaign, as if it hit one gateway.

A like ring (many accounts, one hosting /24, one purchased post) is split
request by request between two ``Engine`` instances sharing the real Redis on
127.0.0.1:6379. Every feature each replica computes, and every verdict, must
equal what a single engine computes for the same sequence; two replicas on
their own local state (the control) see only half and miss the ring.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import yaml
from redis_support import REDIS_URL, drop_keys, redis_or_skip

from gateway.demo.app import issue_token
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.settings import REPO_ROOT, settings_from_dict
from gateway.verdict import Decision

DEMO_CONFIG = REPO_ROOT / "gateway" / "demo" / "config.yaml"
RING = 12  # accounts in the ring
THRESHOLD = 8  # the pack's bar: this many accounts on one prefix, or on one target

PACK = f"""
pack: replicas-test
description: Sharing and lockstep bars low enough for a twelve-account ring.
rules:
  - id: ring-prefix
    description: many accounts acting from one /24
    on: [like]
    when: prefix.accounts_10m >= {THRESHOLD}
    action: block
  - id: ring-target
    description: many accounts on one target within minutes
    on: [like]
    when: target.accounts_5m >= {THRESHOLD}
    action: challenge
"""


def settings(tmp_path: Path, state: dict):
    pack = tmp_path / "pack.yaml"
    if not pack.exists():
        pack.write_text(PACK)
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(state=state, log={"sink": None}, reload=False, rules=[str(pack)], model=None)
    return settings_from_dict(data, source=str(DEMO_CONFIG))


def campaign(t0: float) -> list[RequestFacts]:
    """Each ring account likes the purchased post once, from its own address in 203.0.113.0/24."""
    out = []
    for i in range(RING):
        token = issue_token(f"ring-{i}", client_id="partner-scheduler", device_id=f"emu-{i}", now=t0,
                            session_id=f"ring-session-{i}")
        headers = {
            "authorization": f"Bearer {token}",
            "x-forwarded-for": f"203.0.113.{i + 10}",
            "user-agent": "okhttp/4.12.0",
            "accept": "*/*",
            "x-device-id": f"emu-{i}",
        }
        out.append(RequestFacts(ts=t0 + 1.0 + 7.0 * i, method="POST", path="/v1/media/bought-1/like", peer="127.0.0.1",
                                headers=headers, action="like", target="bought-1"))
    return out


async def run(engines: list[Engine], requests: list[RequestFacts]) -> list:
    """Request i goes to engine i mod len(engines); the verdicts, in order."""
    for engine in engines:
        await engine.start()
    try:
        return [await engines[i % len(engines)].decide(facts) for i, facts in enumerate(requests)]
    finally:
        for engine in engines:
            await engine.close()


async def test_a_ring_split_across_two_replicas_is_seen_whole(tmp_path: Path) -> None:
    client = await redis_or_skip()
    prefix = f"gwrep-{uuid.uuid4().hex[:12]}"
    requests = campaign(float(int(time.time())))
    shared = settings(tmp_path, {"backend": "redis", "url": REDIS_URL, "prefix": prefix, "timeout_ms": 2000.0})
    try:
        replicas = await run([Engine(shared, record_features=True, decision_log=False) for _ in range(2)], requests)
    finally:
        await drop_keys(client, prefix)
        await client.aclose()
    alone = await run([Engine(settings(tmp_path, {"backend": "memory"}), record_features=True, decision_log=False)],
                      requests)

    assert not any(v.degraded for v in replicas), "Redis answered every exchange"
    for i, (seen, single) in enumerate(zip(replicas, alone, strict=True)):
        assert seen.features == single.features, f"request {i} (replica {'AB'[i % 2]}): features differ"
        assert (seen.decision, seen.rules) == (single.decision, single.rules), f"request {i}: verdict differs"
    # Replica B's counts include replica A's traffic: request i counts all i + 1 accounts so far.
    counts = [v.features["prefix.accounts_10m"] for v in replicas]
    assert counts == list(range(1, RING + 1))
    assert [v.features["target.accounts_5m"] for v in replicas] == list(range(1, RING + 1))
    caught = [i for i, v in enumerate(replicas) if v.decision is Decision.BLOCK]
    assert caught == list(range(THRESHOLD - 1, RING)) and {i % 2 for i in caught} == {0, 1}
    assert set(replicas[-1].rules) == {"ring-prefix", "ring-target"}


async def test_replicas_on_local_state_each_see_half_and_miss_the_ring(tmp_path: Path) -> None:
    # The control: the same split without shared state. Each replica counts only its own half.
    local = settings(tmp_path, {"backend": "memory"})
    verdicts = await run([Engine(local, record_features=True, decision_log=False) for _ in range(2)], campaign(
        float(int(time.time()))))
    assert max(v.features["prefix.accounts_10m"] for v in verdicts) == RING // 2
    assert all(v.decision is Decision.ALLOW for v in verdicts)
