"""The state store contract: one batched, async call per request.

A request's signals need to read and update many small structures (distinct
accounts per IP, the session's recent gaps, the target's recent actions, the
session's birth record, sticky decisions). They are all expressed as a list of
operations executed in order in ONE ``exchange`` call, so the Redis backend
does the whole request in one round trip (a pipeline) and the memory backend
in one pass.

The operations, and their exact semantics (both backends must match):

``Distinct(key, member, ts, windows, ttl, cap)``
    Record that ``member`` was seen at ``ts`` under ``key``; return, for each
    window in ``windows`` (seconds), how many distinct members were seen in
    ``(ts - window, ts]``, this one included. At most ``cap`` members are kept
    per key (the oldest-seen are dropped), so counts saturate at ``cap``: a
    documented, one-sided error. The key expires ``ttl`` seconds after its
    last update.

``Append(key, value, ttl, maxlen)``
    Return the values appended before (newest first, at most ``maxlen``),
    then push ``value`` (a str or float) and keep the newest ``maxlen``.

``Get(key)`` -> the stored str, or None.
``Put(key, value, ttl)`` -> None. Stores a str that expires after ``ttl`` s.
``PutIfAbsent(key, value, ttl)`` -> the previous value if one existed (and leaves it), else stores and returns None.
``Incr(key, amount, ttl)`` -> the new integer value; expiry set on creation.

Keys are ``"<entity>#<field>"``, e.g. ``"ip:203.0.113.7#accounts"``: the part
before ``#`` names one entity (it may contain ``:``), the part after names the
structure. The Redis backend turns it into ``<prefix>:{<entity>}:<field>`` so
all of one entity's keys share a Redis Cluster hash slot.

Time: ``ts`` in ops is the engine's clock (virtual in replay), never wall time.
Expiry is judged against the same clock: a store is told the time by
``exchange(batch, now)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class Distinct:
    key: str
    member: str
    ts: float
    windows: tuple[float, ...]
    ttl: float
    cap: int = 256


@dataclass(slots=True)
class Append:
    key: str
    value: str | float
    ttl: float
    maxlen: int = 32


@dataclass(slots=True)
class Get:
    key: str


@dataclass(slots=True)
class Put:
    key: str
    value: str
    ttl: float


@dataclass(slots=True)
class PutIfAbsent:
    key: str
    value: str
    ttl: float


@dataclass(slots=True)
class Incr:
    key: str
    amount: int
    ttl: float


Op = Distinct | Append | Get | Put | PutIfAbsent | Incr


@dataclass(slots=True)
class BatchResult:
    """One result per op, in order; ``degraded`` when a fallback answered."""

    values: list
    degraded: bool = False


@runtime_checkable
class StateStore(Protocol):
    async def exchange(self, ops: list[Op], now: float) -> BatchResult:
        """Run every op in order, in one round trip. Never raises for an outage: degrade."""
        ...

    async def close(self) -> None: ...
