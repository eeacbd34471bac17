"""Following a hot target from read to read gives exactly the features of recounting it."""

from __future__ import annotations

import random

import pytest

from gateway.signals import lockstep


def burst_input(rng: random.Random, target: str) -> tuple:
    return (f"{rng.randrange(12):08x}", f"10.0.{rng.randrange(3)}.0/24", f"{rng.choice((1, 2, 3))}/hosting",
            rng.random() < 0.4)


@pytest.mark.parametrize("seed", range(6))
def test_followed_target_matches_a_recount(seed: int) -> None:
    rng = random.Random(seed)
    lists: dict[str, list] = {"t1": [], "t2": []}
    now = 1_000_000.0
    bursts = 0
    windows: dict = {}
    for step in range(3000):
        now += rng.choice((0.0, 0.5, 2.0, 9.0, 40.0, 400.0 if step % 97 == 0 else 1.0))
        target = rng.choice(("t1", "t1", "t2"))
        previous = lists[target]
        if rng.random() < 0.05:  # another replica wrote meanwhile
            previous.insert(0, lockstep.encode(now - rng.random(), *burst_input(rng, target)))
        if rng.random() < 0.01:
            previous.insert(rng.randrange(len(previous) + 1), "garbage")
        acct, pfx, asn, anon = burst_input(rng, target)
        read = previous[: lockstep.MAX_RECENT]
        followed: dict = {}
        recounted: dict = {}
        got = lockstep.target_features(now, acct, pfx, asn, anon, list(read), followed, target, windows)
        want = lockstep.target_features(now, acct, pfx, asn, anon, list(read), recounted)
        assert (got, followed) == (want, recounted)
        bursts += want
        skew = rng.choice((0.0, 0.0, 0.0, -3.0))  # a replica's clock a little behind
        previous.insert(0, lockstep.encode(now + skew, acct, pfx, asn, anon))
        del previous[lockstep.MAX_RECENT:]
    assert bursts > 0  # the sequence reaches bursts, so the verdict path is compared too
