"""When simulated clients act: human days, bursts and the rhythms of automation."""

from __future__ import annotations

import math
import random

DAY = 86_400.0


def lognormal_gap(rng: random.Random, median_s: float, sigma: float = 1.0, floor_s: float = 0.8) -> float:
    return max(floor_s, median_s * math.exp(rng.gauss(0.0, sigma)))


def awake(ts: float, utc_offset_h: int, wake_h: float = 7.5, sleep_h: float = 23.5) -> bool:
    """Whether a person (or a careful bot) in that time zone is up at ``ts``."""
    local_h = ((ts / 3600.0) + utc_offset_h) % 24.0
    return wake_h <= local_h < sleep_h


def human_times(rng: random.Random, start: float, end: float, utc_offset_h: int, *, sessions_per_day: float,
                actions_per_session: float, gap_median_s: float = 25.0, wake_h: float | None = None,
                sleep_h: float | None = None) -> list[float]:
    """Action times of a person: a few visits a day while awake, each a burst of log-normal gaps."""
    wake = wake_h if wake_h is not None else rng.uniform(6.5, 9.5)
    sleep = sleep_h if sleep_h is not None else rng.uniform(22.0, 24.5)
    times: list[float] = []
    day0 = math.floor((start + utc_offset_h * 3600.0) / DAY) * DAY - utc_offset_h * 3600.0
    day = day0
    while day < end:
        awake_s = (sleep - wake) * 3600.0
        visits = _poisson(rng, sessions_per_day)
        for _ in range(visits):
            t = day + wake * 3600.0 + rng.random() * awake_s
            n = 1 + int(rng.expovariate(1.0 / max(actions_per_session - 1.0, 0.01)))
            for _ in range(n):
                if start <= t < end:
                    times.append(t)
                t += lognormal_gap(rng, gap_median_s)
        day += DAY
    times.sort()
    return times


def bot_times(rng: random.Random, start: float, end: float, evasion: str, interval_s: float,
              utc_offset_h: int = 0) -> list[float]:
    """Action times of automation at an evasion level.

    crude: a fixed interval around the clock; medium: the interval jittered
    +-50%, still around the clock; careful: log-normal gaps, asleep at night.
    """
    times: list[float] = []
    t = start + rng.random() * interval_s
    limit = int((end - start) / max(interval_s * 0.3, 0.5)) + 10
    for _ in range(limit):
        if t >= end:
            break
        if evasion != "careful" or awake(t, utc_offset_h, 8.0, 23.0):
            times.append(t)
        if evasion == "crude":
            t += interval_s + rng.uniform(-0.05, 0.05)
        elif evasion == "medium":
            t += interval_s * rng.uniform(0.5, 1.5)
        else:
            t += lognormal_gap(rng, interval_s * 0.6, 1.1)
    return times


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: lam here is small (visits a day).
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
