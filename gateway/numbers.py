"""Numbers read from JSON or YAML, which have no bounds of their own."""

from __future__ import annotations

import math


def finite_number(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (a bool, text, NaN, an integer past a float's range)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # JSON integers have no bound: 10**400 parses
        return None
    return number if math.isfinite(number) else None
