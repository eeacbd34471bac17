"""The in-process state store: bounded, compact, judged on the caller's clock.

Implements the contract in ``gateway.signals.store`` exactly as the Redis
backend does (both are driven by the same conformance tests). Precise rules
both backends follow where the contract leaves room:

- Expiry is judged against the ``now`` given to ``exchange``: a key is alive
  while ``now < expiry``. ``Put``/``Append`` set ``expiry = now + ttl``;
  ``Incr`` sets it on creation only; a ``Distinct`` key lives until
  ``newest member's ts + ttl`` (its last update, on the op clock).
- ``Distinct`` keeps each member's newest ts (a member seen again at an older
  ts keeps its newer one). Members are ranked by ``(ts, member)``; past
  ``cap`` the lowest-ranked are dropped, the new member included if it ranks
  lowest. Counts are taken after the trim, over ``(ts - window, ts]``.
- ``Append`` values: a ``str`` stays a ``str``; anything else is stored and
  returned as a ``float``.
- ``Incr`` on a key holding a str that is a plain integer (``-?[0-9]+``)
  continues from it; any other str counts as 0. Either way the key keeps its
  expiry. ``Get``/``PutIfAbsent``
  on a counter return its decimal string.
- A key holds one kind of structure (string/counter, list, distinct set). An
  op of another kind sees it as absent and, if it writes, replaces it.

Bounds: at most ``max_keys`` keys, least recently used evicted first (every
op on a key counts as a use); a distinct set keeps at most ``cap`` members, a
list at most ``maxlen`` values; expired keys are dropped when touched, and
expired strings and lists also by a small periodic sweep of the least
recently used end. Eviction works in
small batches so its cost stays amortised O(1) on a plain dict.

Layout, chosen for bytes per key: one ``dict`` (insertion order = recency);
strings and counters are ``(expiry, value)`` tuples; float lists are
``array('d')`` with the expiry in slot 0 (a ``list`` once a str is appended);
distinct sets hold a list of members and an ``array('d')`` of their ts, both
in rank order, so windows are counted by bisecting the array (large sets add a
member -> ts index, so a member is found without a scan). Members are
interned: one account id in many sets is stored once.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from itertools import islice
from sys import intern

from gateway.signals.store import (
    Append,
    BatchResult,
    Distinct,
    Get,
    Incr,
    Op,
    Put,
    PutIfAbsent,
)

_INTEGER = re.compile(r"-?[0-9]+\Z")
_SWEEP_EVERY = 64  # exchanges between sweeps of the least recently used end
_SWEEP_SPAN = 32  # keys examined per sweep


class _Members:
    """A distinct set: members and their newest ts, both in (ts, member) order."""

    __slots__ = ("members", "scores")

    def __init__(self, members: list[str], scores: array) -> None:
        self.members = members
        self.scores = scores  # array('d'), ascending: windows are counted by bisection


class _Indexed(_Members):
    """A large distinct set (a shared address, prefix, ASN) that also maps member -> ts.

    Finding a member then costs a dict lookup and a bisection instead of a scan
    of every member. Small sets (most of them, one per account field) go
    without: a scan of a few is cheap, a dict and a slot per set are not.
    """

    __slots__ = ("index",)

    def __init__(self, members: list[str], scores: array) -> None:
        self.members = members
        self.scores = scores
        self.index: dict[str, float] = dict(zip(members, scores, strict=True))


_SETS = (_Members, _Indexed)
_INDEX_FROM = 16


def _insert(members: list[str], scores: array, member: str, ts: float) -> None:
    """Insert keeping (ts, member) order; appending is the common case."""
    if not scores or ts > scores[-1] or (ts == scores[-1] and member > members[-1]):
        members.append(member)
        scores.append(ts)
        return
    at = bisect_right(scores, ts)
    while at > 0 and scores[at - 1] == ts and members[at - 1] > member:
        at -= 1
    members.insert(at, member)
    scores.insert(at, ts)


def _position(entry: _Members, member: str) -> int:
    """Where ``member`` sits in ``entry``, or -1."""
    members = entry.members
    if type(entry) is not _Indexed:
        # A membership test first: a raised ValueError costs more than a second short scan.
        return members.index(member) if member in members else -1
    old = entry.index.get(member)
    if old is None:
        return -1
    at = bisect_left(entry.scores, old)
    while members[at] != member:  # ties on ts: a few neighbours at most
        at += 1
    return at


class MemoryStore:
    """Bounded in-process ``StateStore``; see the module docstring for semantics."""

    def __init__(self, max_keys: int = 500_000) -> None:
        if max_keys < 1:
            raise ValueError(f"MemoryStore max_keys must be at least 1, got {max_keys}: set state.max_keys to a positive count")
        self.max_keys = max_keys
        self._data: dict[str, object] = {}
        # Evicting a few extra keys at once keeps the scan past deleted slots at
        # the dict's front amortised; never more than 1/256 of the bound.
        self._evict_batch = min(1024, max_keys // 256)
        self._exchanges = 0
        self._run = {
            Distinct: self._distinct,
            Append: self._append,
            Get: self._get,
            Put: self._put,
            PutIfAbsent: self._put_if_absent,
            Incr: self._incr,
        }

    def __len__(self) -> int:
        return len(self._data)

    async def exchange(self, ops: list[Op], now: float) -> BatchResult:
        return self.exchange_sync(ops, now)

    def exchange_sync(self, ops: list[Op], now: float) -> BatchResult:
        """Run ``ops`` in order on the clock ``now``; one result per op."""
        run = self._run
        values = [run[type(op)](op, now) for op in ops]
        self._exchanges += 1
        if self._exchanges % _SWEEP_EVERY == 0:
            self._sweep(now)
        return BatchResult(values)

    async def close(self) -> None:
        self._data.clear()

    # -- key bookkeeping ---------------------------------------------------

    def _take(self, key: str, now: float) -> object | None:
        """The live entry under ``key`` (moved to the recent end), else None."""
        data = self._data
        entry = data.pop(key, None)
        if entry is None:
            return None
        if type(entry) not in _SETS and entry[0] <= now:
            return None  # distinct sets are judged by their op's ttl
        data[key] = entry
        return entry

    def _store(self, key: str, entry: object) -> None:
        data = self._data
        data[key] = entry
        if len(data) > self.max_keys:
            self._evict()

    def _evict(self) -> None:
        data = self._data
        excess = len(data) - self.max_keys + self._evict_batch
        for victim in list(islice(data, excess)):
            del data[victim]

    def _sweep(self, now: float) -> None:
        # Distinct sets are left to eviction: whether one is alive depends on
        # the ttl of the next op that touches it.
        data = self._data
        for key in list(islice(data, _SWEEP_SPAN)):
            entry = data[key]
            if type(entry) not in _SETS and entry[0] <= now:
                del data[key]

    # -- operations --------------------------------------------------------

    def _distinct(self, op: Distinct, now: float) -> tuple[int, ...]:
        key, member, ts = op.key, op.member, op.ts
        data = self._data
        entry = data.pop(key, None)
        if type(entry) in _SETS and entry.scores[-1] + op.ttl > now:
            members, scores = entry.members, entry.scores
            last = scores[-1]
            if ts >= last and members[-1] == member:
                # The newest member seen again (an account's own ip, prefix, ...): stays last.
                scores[-1] = ts
                if type(entry) is _Indexed:
                    entry.index[member] = ts
            else:
                at = _position(entry, member)
                index = entry.index if type(entry) is _Indexed else None
                if at >= 0:
                    if ts > scores[at]:
                        member = members[at]
                        del members[at]
                        del scores[at]
                        _insert(members, scores, member, ts)
                        if index is not None:
                            index[member] = ts
                else:
                    member = intern(member)
                    if ts > last or (ts == last and member > members[-1]):
                        members.append(member)  # the common case, inlined: newest of all
                        scores.append(ts)
                    else:
                        _insert(members, scores, member, ts)
                    if index is not None:
                        index[member] = ts
                    elif len(members) > _INDEX_FROM:
                        entry = _Indexed(members, scores)
                excess = len(members) - op.cap
                if excess > 0:
                    index = entry.index if type(entry) is _Indexed else None
                    if index is not None:
                        for gone in members[:excess]:
                            del index[gone]
                    del members[:excess]
                    del scores[:excess]
        elif op.cap > 0:
            scores = array("d", (ts,))
            entry = _Members([intern(member)], scores)
        else:  # a cap below 1 keeps nothing
            return tuple([0] * len(op.windows))
        if not scores:
            return tuple([0] * len(op.windows))
        data[key] = entry
        if len(data) > self.max_keys:
            self._evict()
        windows = op.windows
        upper = len(scores) if ts >= scores[-1] else bisect_right(scores, ts)
        # The plan's window tuples have one to three entries: unrolled, they skip a comprehension's frame.
        n = len(windows)
        if n == 1:
            return (upper - bisect_right(scores, ts - windows[0]),)
        if n == 3:
            w0, w1, w2 = windows
            return (upper - bisect_right(scores, ts - w0), upper - bisect_right(scores, ts - w1),
                    upper - bisect_right(scores, ts - w2))
        if n == 2:
            w0, w1 = windows
            return (upper - bisect_right(scores, ts - w0), upper - bisect_right(scores, ts - w1))
        return tuple([upper - bisect_right(scores, ts - window) for window in windows])

    def _append(self, op: Append, now: float) -> list:
        entry = self._take(op.key, now)
        value = op.value if type(op.value) is str else float(op.value)
        maxlen = op.maxlen
        if type(entry) is array or type(entry) is list:
            previous = entry[:0:-1]
            previous = previous.tolist() if type(previous) is array else previous
            if len(previous) > maxlen:
                del previous[maxlen:]
            if type(value) is str and type(entry) is array:
                entry = [entry[0], *entry[1:].tolist()]
        else:
            previous = []
            entry = [0.0] if type(value) is str else array("d", (0.0,))
        entry.append(value)
        excess = len(entry) - 1 - maxlen
        if excess > 0:
            del entry[1 : 1 + excess]
        entry[0] = now + op.ttl
        self._store(op.key, entry)
        return previous

    def _get(self, op: Get, now: float) -> str | None:
        entry = self._take(op.key, now)
        if type(entry) is not tuple:
            return None
        value = entry[1]
        return value if type(value) is str else str(value)

    def _put(self, op: Put, now: float) -> None:
        self._data.pop(op.key, None)
        self._store(op.key, (now + op.ttl, op.value))

    def _put_if_absent(self, op: PutIfAbsent, now: float) -> str | None:
        entry = self._take(op.key, now)
        if type(entry) is tuple:
            value = entry[1]
            return value if type(value) is str else str(value)
        self._data.pop(op.key, None)
        self._store(op.key, (now + op.ttl, op.value))
        return None

    def _incr(self, op: Incr, now: float) -> int:
        entry = self._take(op.key, now)
        if type(entry) is tuple:
            expiry, current = entry
            if type(current) is str:
                current = int(current) if _INTEGER.match(current) else 0
            count = current + op.amount
            entry = (expiry, count)
        else:
            self._data.pop(op.key, None)
            count = op.amount
            entry = (now + op.ttl, count)
        self._store(op.key, entry)
        return count
