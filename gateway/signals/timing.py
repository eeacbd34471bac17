"""Timing: how regular and how tireless a session or account is.

Automation acts on a clock (fixed or jittered intervals, around the clock);
people act in bursts separated by long pauses, and sleep. From the last
actions' timestamps we compute the gap statistics; from an account's active
10-minute slots over the last day, how evenly its activity spreads over the
hours of the day.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from math import log2, sqrt
from operator import mul, sub

MAX_ACTIONS = 32  # timestamps kept per session and per account
REGULAR_TOLERANCE = 0.10  # a gap within 10% of the median counts as regular


def gap_features(ns: str, now: float, previous: list, out: dict) -> None:
    """Write ``<ns>.gaps`` and, when there are gaps, the gap statistics into ``out``.

    ``previous`` holds earlier timestamps, newest first (floats, or strings from
    a backend that stores text). Out-of-order timestamps (clock skew between
    replicas) count as zero gaps rather than negative ones.
    """
    last = _last[0]
    if last[0] == now and last[1] == previous:  # an account acting from one session has the session's times
        stats = last[2]
    else:
        stats = _gap_stats(now, previous)
        _last[0] = (now, list(previous), stats)  # one assignment: a replay in another thread sees all or nothing
    for name, value in zip(_NAMES.get(ns) or _names(ns), stats, strict=False):  # as many as _gap_stats gives
        out[name] = value


_last: list = [(None, None, ())]  # the request time and times the statistics were last computed for, and them


def _gap_stats(now: float, previous: list) -> tuple:
    """(gaps) with no gaps, (gaps, median, min) with one, and (..., cv, burstiness, regular share) with more."""
    n = len(previous)
    if not n:
        return (0,)
    if type(previous[0]) is not float:
        previous = [float(x) for x in previous]
    gaps = list(map(sub, [now, *previous], previous))
    gaps.sort()
    if gaps[0] < 0.0:
        gaps = [g if g > 0.0 else 0.0 for g in gaps]  # sorted still: the negatives were first
    half = n // 2
    median = gaps[half] if n & 1 else (gaps[half - 1] + gaps[half]) * 0.5
    if n < 2:
        return n, median, gaps[0]
    mean = sum(gaps) / n
    if mean > 0.0:
        deviations = [g - mean for g in gaps]
        cv = sqrt(sum(map(mul, deviations, deviations)) / n) / mean
    else:
        cv = 0.0
    tol = median * REGULAR_TOLERANCE
    regular = bisect_right(gaps, median + tol) - bisect_left(gaps, median - tol)
    return n, median, gaps[0], cv, (cv - 1.0) / (cv + 1.0), regular / n


_NAMES: dict[str, tuple[str, ...]] = {}


def _names(ns: str) -> tuple[str, ...]:
    names = _NAMES[ns] = tuple(f"{ns}.{n}" for n in ("gaps", "gap_median_s", "gap_min_s", "gap_cv", "burstiness",
                                                       "regular_share"))
    return names


def actions_within(now: float, previous: list, window: float) -> int:
    """Actions in ``(now - window, now]`` from newest-first timestamps (floats), this one included."""
    cut = now - window
    count = 1
    for t in previous:
        if t <= cut:
            break
        count += 1
    return count


def hour_features(hours: list, out: dict) -> None:
    """Hour-of-day entropy and active hours from the active-slot counts of the last day's clock hours.

    ``hours`` holds, for each clock hour of the last 24 with actions, its
    number of distinct active 10-minute slots (each hour is a different hour
    of the day). Counting active slots rather than raw actions keeps a burst
    of fifty likes from weighing like fifty separate hours of presence.
    """
    key = tuple(hours)  # an account's hours change once per new slot: most of its requests repeat the last
    entropy = _ENTROPIES.get(key)
    if entropy is None:
        total = sum(hours)
        if total <= 0:
            return
        entropy = 0.0
        for k in hours:
            p = k / total
            entropy -= p * log2(p)
        entropy += 0.0
        if len(_ENTROPIES) >= _ENTROPIES_MAX:
            _ENTROPIES.clear()
        _ENTROPIES[key] = entropy
    out["account.hour_entropy"] = entropy
    out["account.active_hours_24h"] = len(hours)


_ENTROPIES: dict[tuple, float] = {}  # active-slot counts -> their entropy (at most 24 counts of at most 6)
_ENTROPIES_MAX = 4096
