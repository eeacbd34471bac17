"""The same request sequence through the Redis backend gives exactly the features the memory backend gives."""

from __future__ import annotations

import uuid

import pytest
from redis_support import REDIS_URL, drop_keys, redis_or_skip
from signals_support import T0, Driver, office, phone, principal, server

from gateway.settings import State


async def sequence(d: Driver) -> list[dict]:
    """A phone session, its token replayed from a server, a VPN hop, a like ring on one post."""
    out = []
    own = principal("owner", device="android-dev-1")
    await d.birth(own, phone(), T0)
    for i in range(5):
        out.append(await d.act(own, phone(), T0 + 40.0 * (i + 1), target=f"post-{i}"))
    out.append(await d.act(own, server(), T0 + 400.0, target="post-9"))
    out.append(await d.act(own, server(net_class="vpn", ip="198.51.100.77"), T0 + 460.0, action="follow", target="u-1"))
    for i in range(12):
        out.append(await d.act(principal(f"ring-{i}"), server(ip=f"203.0.113.{i + 1}"), T0 + 500.0 + i, target="bought"))
    out.append(await d.act(principal("ring-11"), server(ip="203.0.113.12"), T0 + 900.0, target="elsewhere"))
    out.append(await d.act(principal("manager"), office(), T0 + 950.0, action="login", target=None))
    return out


async def test_redis_and_memory_agree() -> None:
    redis_store = pytest.importorskip("gateway.state.redis_store")
    probe = await redis_or_skip()
    prefix = f"gwsig-{uuid.uuid4().hex[:12]}"
    store = redis_store.RedisStore(State(backend="redis", url=REDIS_URL, prefix=prefix, timeout_ms=2000.0))
    try:
        on_redis = await sequence(Driver(store=store))
    finally:
        await store.close()
        await drop_keys(probe, prefix)
        await probe.aclose()
    in_memory = await sequence(Driver())
    assert len(on_redis) == len(in_memory)
    for i, (r, m) in enumerate(zip(on_redis, in_memory, strict=True)):
        assert r.keys() == m.keys(), f"request {i}: {sorted(r.keys() ^ m.keys())}"
        for name in m:
            if isinstance(m[name], float):
                assert r[name] == pytest.approx(m[name], rel=1e-9, abs=1e-9), f"request {i}: {name}"
            else:
                assert r[name] == m[name], f"request {i}: {name}"
    assert on_redis[5]["session.class_changed"] is True
    assert on_redis[-2]["account.burst_targets_1h"] == 1
