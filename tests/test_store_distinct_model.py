"""The memory store's distinct sets against a plain model of the contract, on random traffic.

Large sets keep a member index beside their ranked arrays; random members,
out-of-order timestamps and small caps exercise every path that must keep
the two in step (re-seen members, ties, trims past the cap).
"""

from __future__ import annotations

import random

import pytest

from gateway.signals.memory import MemoryStore
from gateway.signals.store import Distinct


class ModelSet:
    """The contract written plainly: newest ts per member, drop the lowest (ts, member) past cap."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def add(self, member: str, ts: float, windows: tuple[float, ...], cap: int) -> tuple[int, ...]:
        if member not in self.seen or ts > self.seen[member]:
            self.seen[member] = ts
        ranked = sorted(self.seen.items(), key=lambda kv: (kv[1], kv[0]))
        self.seen = dict(ranked[max(0, len(ranked) - cap):])
        return tuple(sum(1 for t in self.seen.values() if ts - w < t <= ts) for w in windows)


@pytest.mark.parametrize(("cap", "population", "seed"), [(20, 40, 1), (17, 25, 2), (64, 90, 3), (5, 12, 4)])
def test_distinct_matches_the_model(cap: int, population: int, seed: int) -> None:
    rng = random.Random(seed)
    store = MemoryStore()
    model = ModelSet()
    windows = (10.0, 60.0, 600.0)
    ts = 1000.0
    for _ in range(1500):
        ts += rng.choice((0.0, 0.5, 1.0, 3.0))
        at = ts - rng.choice((0.0, 0.0, 0.0, 2.0, 30.0))  # some late arrivals, some ties
        member = f"m{rng.randrange(population)}"
        got = store.exchange_sync([Distinct("k#d", member, at, windows, 10_000.0, cap)], ts).values[0]
        assert got == model.add(member, at, windows, cap)
