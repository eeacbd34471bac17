"""Bounded memory: a flood of random addresses, devices, accounts and targets cannot grow state past the bound."""

from __future__ import annotations

import random

from signals_support import T0, Driver, moved, phone, principal, settings

from gateway.facts import RequestFacts
from gateway.signals.collector import PENDING_MAX, SignalCollector


async def test_a_flood_stays_within_the_store_bound() -> None:
    rng = random.Random(5)
    d = Driver(max_keys=2000)
    for i in range(3000):
        ip = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        fp = moved(phone(ip=ip, device=f"dev-{rng.getrandbits(64):x}"), tls=f"t13d{rng.getrandbits(48):x}")
        who = principal(f"acct-{rng.getrandbits(64):x}")
        await d.act(who, fp, T0 + i * 0.01, target=f"t-{rng.getrandbits(64):x}")
        assert len(d.store) <= 2000
    assert len(d.collector.pending) <= PENDING_MAX


def test_client_controlled_key_parts_are_digested() -> None:
    c = SignalCollector(settings())
    facts = RequestFacts(ts=T0, method="POST", path="/x", peer="127.0.0.1", headers={}, action="like",
                         target="evil#{tag}" + "x" * 500)
    who = principal("user#{1}" + "y" * 300, session="s" * 400, device="d" * 1000)
    plan = c.plan(facts, who, phone(device="d" * 1000))
    for op in plan.ops:
        assert "#" not in op.key and "{" not in op.key and "}" not in op.key
        assert len(op.key) < 120, op.key
