"""A circuit breaker for the shared store: stop calling a failing server, probe it later.

Closed: every call goes through; ``failures`` consecutive failures open it.
Open: no call goes through for ``reset_s`` seconds (callers answer locally).
Half-open: after ``reset_s`` exactly one caller is let through as a probe;
its success closes the breaker, its failure opens it for another ``reset_s``.
Time is the monotonic wall clock (an outage is real time, not the op clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError(f"breaker failures must be at least 1, got {failures}: set state.breaker_failures")
        if reset_s < 0:
            raise ValueError(f"breaker reset must not be negative, got {reset_s}: set state.breaker_reset_s")
        self.failures = failures
        self.reset_s = reset_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = CLOSED

    def allow(self) -> bool:
        """May this call go to the server? In half-open, only the first caller may."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self._clock() - self._opened_at >= self.reset_s:
            self.state = HALF_OPEN
            self._probing = False
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def release(self) -> None:
        """The let-through call ended with neither verdict (it was cancelled)."""
        self._probing = False

    def record_success(self) -> None:
        self._consecutive = 0
        self._probing = False
        self.state = CLOSED

    def record_failure(self) -> None:
        self._consecutive += 1
        self._probing = False
        if self.state == HALF_OPEN or self._consecutive >= self.failures:
            self.state = OPEN
            self._opened_at = self._clock()
