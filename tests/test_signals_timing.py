"""Timing signals: a metronome, a jittered scheduler and a person, on an injected clock."""

from __future__ import annotations

import math
import random

from signals_support import T0, Driver, phone, principal, server

from gateway.signals import timing


async def test_fixed_interval_bot_is_a_metronome() -> None:
    d = Driver()
    bot = principal("bot-fixed")
    f: dict = {}
    for i in range(40):
        f = await d.act(bot, server(), T0 + 30.0 * i, target=f"m{i}")
    assert f["session.gaps"] == timing.MAX_ACTIONS
    assert f["session.gap_median_s"] == 30.0
    assert f["session.gap_min_s"] == 30.0
    assert f["session.gap_cv"] == 0.0
    assert f["session.burstiness"] == -1.0
    assert f["session.regular_share"] == 1.0
    assert f["account.gap_cv"] == 0.0 and f["account.burstiness"] == -1.0
    assert f["account.actions_1m"] == 2  # (ts-60, ts] holds this one and the one 30 s before
    assert f["account.actions_1h"] == 40


async def test_jittered_bot_stays_regular() -> None:
    """A scheduler that adds +/-20% jitter is still far more regular than a person."""
    rng = random.Random(7)
    d = Driver()
    bot = principal("bot-jitter")
    ts, f = T0, {}
    for i in range(40):
        ts += 60.0 * rng.uniform(0.8, 1.2)
        f = await d.act(bot, server(), ts, target=f"m{i}")
    assert 0.03 < f["session.gap_cv"] < 0.2
    assert f["session.burstiness"] < -0.6
    assert f["session.regular_share"] >= 0.3
    assert 50.0 < f["session.gap_median_s"] < 70.0
    assert f["session.gap_min_s"] >= 48.0


async def test_bursty_human_is_bursty() -> None:
    """Bursts of a few likes seconds apart, then long pauses: CV well above 1, B above 0."""
    rng = random.Random(11)
    d = Driver()
    human = principal("human")
    ts, f = T0 + 8 * 3600.0, {}
    for _burst in range(8):
        for _ in range(4):
            ts += rng.uniform(2.0, 6.0)
            f = await d.act(human, phone(), ts, target=f"m{rng.randrange(10**6)}")
        ts += rng.uniform(600.0, 3600.0)
    assert f["session.gap_cv"] > 1.0
    assert f["session.burstiness"] > 0.0
    assert f["session.regular_share"] < 0.3
    assert f["session.gap_min_s"] < 6.0


async def test_first_action_has_no_gap_statistics() -> None:
    d = Driver()
    f = await d.act(principal("newcomer"), phone(), T0)
    assert f["session.gaps"] == 0 and f["account.gaps"] == 0
    for name in ("gap_median_s", "gap_cv", "burstiness", "regular_share", "gap_min_s"):
        assert f"session.{name}" not in f and f"account.{name}" not in f
    f = await d.act(principal("newcomer"), phone(), T0 + 5.0)
    assert f["session.gaps"] == 1 and f["session.gap_median_s"] == 5.0
    assert "session.gap_cv" not in f  # one gap has no spread


async def test_round_the_clock_bot_has_flat_hours_and_a_sleeper_does_not() -> None:
    d = Driver()
    bot, sleeper = principal("bot-247"), principal("sleeper")
    fb = fs = {}
    for i in range(24 * 4):  # every 15 minutes for a day
        fb = await d.act(bot, server(), T0 + 900.0 * i, target=f"b{i}")
    for i in range(3 * 4):  # every 15 minutes, 18:00 to 21:00
        fs = await d.act(sleeper, phone(), T0 + 18 * 3600.0 + 900.0 * i, target=f"s{i}")
    assert fb["account.active_hours_24h"] == 24
    assert abs(fb["account.hour_entropy"] - math.log2(24)) < 0.05
    assert fs["account.active_hours_24h"] in (3, 4)  # 18:00-20:45 spans 3 clock hours, 4 if not aligned
    assert fs["account.hour_entropy"] <= 2.0


async def test_action_counts_over_minute_hour_and_day() -> None:
    d = Driver()
    who = principal("counter")
    f: dict = {}
    for i in range(10):  # ten actions in the first 50 s
        f = await d.act(who, phone(), T0 + 5.0 * i, target=f"a{i}")
    assert (f["account.actions_1m"], f["account.actions_1h"], f["account.actions_24h"]) == (10, 10, 10)
    f = await d.act(who, phone(), T0 + 3 * 3600.0 + 30.0, target="later")
    assert f["account.actions_1m"] == 1
    assert f["account.actions_1h"] == 1  # the first ten are three hours back
    assert f["account.actions_24h"] == 11


def test_gap_statistics_by_hand() -> None:
    out: dict = {}
    # timestamps 0, 10, 20, 40 (newest first when read back), now = 40
    timing.gap_features("session", 40.0, [20.0, 10.0, 0.0], out)
    assert out["session.gaps"] == 3
    assert out["session.gap_median_s"] == 10.0
    mean, sd = 40.0 / 3, math.sqrt(((10 - 40 / 3) ** 2 * 2 + (20 - 40 / 3) ** 2) / 3)
    assert math.isclose(out["session.gap_cv"], sd / mean)
    cv = sd / mean
    assert math.isclose(out["session.burstiness"], (cv - 1) / (cv + 1))
    assert math.isclose(out["session.regular_share"], 2 / 3)
    # Strings from a text backend and clock skew (a later stamp than now) are handled.
    out = {}
    timing.gap_features("account", 100.0, ["101.0", "90.0"], out)
    assert out["account.gap_min_s"] == 0.0 and out["account.gaps"] == 2
