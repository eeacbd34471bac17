"""Timing: how regular and how tireless a session or account is.

Automation acts on a clock (fixed or jittered intervals, around the clock);
people act in bursts separated by long pauses, and sleep. From the last
actions' timestamps we compute the gap statistics; from an account's active
10-minute slots over the last day, how evenly its activity spreads over the
hours of the day.
"""

from __future__ import annotations

from math import log2, sqrt

MAX_ACTIONS = 32  # timestamps kept per session and per account
REGULAR_TOLERANCE = 0.10  # a gap within 10% of the median counts as regular
SLOT_S = 600.0  # hour-of-day activity is counted in active 10-minute slots
HOUR_WINDOWS = tuple(3600.0 * h for h in range(1, 25))  # the day, hour by hour back from now
SLOTS_PER_DAY = 144


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
    times = [now, *previous]
    gaps = [a - b if a > b else 0.0 for a, b in zip(times, previous, strict=False)]
    gaps.sort()
    half = n // 2
    median = gaps[half] if n & 1 else (gaps[half - 1] + gaps[half]) * 0.5
    out[ns + ".gap_median_s"] = median
    out[ns + ".gap_min_s"] = gaps[0]
    if n < 2:
        return
    mean = sum(gaps) / n
    if mean > 0.0:
        var = sum([(g - mean) * (g - mean) for g in gaps]) / n
        cv = sqrt(var) / mean
    else:
        cv = 0.0
    out[ns + ".gap_cv"] = cv
    out[ns + ".burstiness"] = (cv - 1.0) / (cv + 1.0)
    tol = median * REGULAR_TOLERANCE
    lo, hi = median - tol, median + tol
    regular = 0
    for g in gaps:
        if lo <= g <= hi:
            regular += 1
    out[ns + ".regular_share"] = regular / n


def actions_within(now: float, previous: list, window: float) -> int:
    """Actions in ``(now - window, now]`` from newest-first timestamps, this one included."""
    cut = now - window
    count = 1
    for t in previous:
        if float(t) <= cut:
            break
        count += 1
    return count


def hour_features(cumulative: list, out: dict) -> None:
    """Hour-of-day entropy and active hours from cumulative active-slot counts.

    ``cumulative[h]`` is the number of distinct active 10-minute slots in the
    last ``h + 1`` hours, so the differences are the active slots of each of the
    last 24 hours (each a different hour of the day). Counting active slots
    rather than raw actions keeps a burst of fifty likes from weighing like
    fifty separate hours of presence.
    """
    total = cumulative[-1]
    if total <= 0:
        return
    entropy = 0.0
    active = 0
    before = 0
    for c in cumulative:
        k = c - before
        before = c
        if k > 0:
            active += 1
            p = k / total
            entropy -= p * log2(p)
    out["account.hour_entropy"] = entropy + 0.0
    out["account.active_hours_24h"] = active
