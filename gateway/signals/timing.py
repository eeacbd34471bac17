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
    n = len(previous)
    out[ns + ".gaps"] = n
    if not n:
        return
    if type(previous[0]) is not float:
        previous = [float(x) for x in previous]
    gaps = list(map(sub, [now, *previous], previous))
    gaps.sort()
    if gaps[0] < 0.0:
        gaps = [g if g > 0.0 else 0.0 for g in gaps]  # sorted still: the negatives were first
    half = n // 2
    median = gaps[half] if n & 1 else (gaps[half - 1] + gaps[half]) * 0.5
    out[ns + ".gap_median_s"] = median
    out[ns + ".gap_min_s"] = gaps[0]
    if n < 2:
        return
    mean = sum(gaps) / n
    if mean > 0.0:
        deviations = [g - mean for g in gaps]
        cv = sqrt(sum(map(mul, deviations, deviations)) / n) / mean
    else:
        cv = 0.0
    out[ns + ".gap_cv"] = cv
    out[ns + ".burstiness"] = (cv - 1.0) / (cv + 1.0)
    tol = median * REGULAR_TOLERANCE
    regular = bisect_right(gaps, median + tol) - bisect_left(gaps, median - tol)
    out[ns + ".regular_share"] = regular / n


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
    total = sum(hours)
    if total <= 0:
        return
    entropy = 0.0
    for k in hours:
        p = k / total
        entropy -= p * log2(p)
    out["account.hour_entropy"] = entropy + 0.0
    out["account.active_hours_24h"] = len(hours)
