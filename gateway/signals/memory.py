"""The in-process state store: one small record per entity, bounded, on the caller's clock.

Implements the contract in ``gateway.signals.store`` exactly as the Redis
backend does (both are driven by the same conformance tests).

Layout, chosen for speed and bytes per entity: one ``dict`` of entity key ->
record, in recency order (every op moves its entity to the recent end); past
``max_keys`` the least recently used entities are evicted, a few at once so
the cost stays amortised O(1). A record is a slotted object; a recency set is
a plain ``dict`` member -> last seen (insertion order = recency order = time
order, which the contract's clamp guarantees), so counting a window walks
from the newest end and stops at the first member outside it. An account's
ten kinds share one dict, keyed by a one-letter kind tag plus the member.
Action times are ``array('d')``, oldest first. Members are interned: one
account id in many sets is stored once.
"""

from __future__ import annotations

from array import array
from itertools import islice
from math import floor
from sys import intern

from gateway.signals.store import (
    ACCOUNT_CAP,
    ACCOUNT_KINDS,
    ACCOUNT_PREFIX,
    ACCOUNT_WINDOWS,
    DAY,
    HOUR,
    HOURS,
    RECENT_TTL,
    SESSION_PREFIX,
    SESSION_TTL,
    SHARED_ACCOUNT_WINDOWS,
    SHARED_CAP,
    SHARED_SESSION_WINDOW,
    SLOT_S,
    TARGET_MAX,
    TARGET_PREFIX,
    TARGET_TTL,
    TIMES_MAX,
    Account,
    BatchResult,
    Birth,
    Mark,
    Op,
    Session,
    Shared,
    Stick,
    Target,
)

_SWEEP_EVERY = 64  # exchanges between sweeps of the least recently used end
_SWEEP_SPAN = 32  # records examined per sweep

# An account's kinds share one dict; each member is stored under its kind's tag.
_TAGS = "ipscaneltb"
assert len(_TAGS) == len(ACCOUNT_KINDS)
_BURST_TAG = _TAGS[ACCOUNT_KINDS.index("burst")]
# tag -> ((index into the flat counts, window), ...), in ACCOUNT_WINDOWS order
_COUNTS: dict[str, tuple[tuple[int, float], ...]] = {}
_n = 0
for _tag, _windows in zip(_TAGS, ACCOUNT_WINDOWS, strict=True):
    _COUNTS[_tag] = tuple((_n + i, w) for i, w in enumerate(_windows))
    _n += len(_windows)
_N_COUNTS = _n
_LONGEST = max(w for ws in ACCOUNT_WINDOWS for w in ws)
_A10, _A1H, _A24 = SHARED_ACCOUNT_WINDOWS


class _Session:
    __slots__ = ("expires", "birth", "times", "loc", "last", "sticky", "until")

    def __init__(self) -> None:
        self.expires = 0.0
        self.birth: str | None = None
        self.times = array("d")  # oldest first
        self.loc: str | None = None
        self.last = 0.0  # the last action's time (times and loc are dropped after RECENT_TTL idle)
        self.sticky: str | None = None
        self.until = 0.0


class _Shared:
    __slots__ = ("expires", "accounts", "sessions", "sticky", "until")

    def __init__(self) -> None:
        self.expires = 0.0
        self.accounts: dict[str, float] = {}
        self.sessions: dict[str, float] = {}
        self.sticky: str | None = None
        self.until = 0.0


class _Account:
    __slots__ = ("expires", "seen", "newest", "times", "slots", "hour", "hour_n", "hour_prev", "day", "day_n",
                 "day_prev", "loc", "last", "sticky", "until")

    def __init__(self) -> None:
        self.expires = 0.0
        self.seen: dict[str, float] = {}  # tag + member -> last seen, oldest first
        self.newest = 0.0
        self.times = array("d")
        self.slots = array("q")  # active slots, ascending
        self.hour = self.hour_n = self.hour_prev = 0
        self.day = self.day_n = self.day_prev = 0
        self.loc: str | None = None
        self.last = 0.0
        self.sticky: str | None = None
        self.until = 0.0


class _Target:
    __slots__ = ("expires", "records")

    def __init__(self) -> None:
        self.expires = 0.0
        self.records: list[str] = []  # newest first


def _see(members: dict[str, float], member: str, now: float, cap: int) -> None:
    """Mark ``member`` seen now (clamped to the newest), newest end; drop the least recent past ``cap``."""
    if members:
        newest = members[next(reversed(members))]
        if newest > now:
            now = newest
        if members.pop(member, None) is None:
            member = intern(member)
    else:
        member = intern(member)
    members[member] = now
    if len(members) > cap:
        del members[next(iter(members))]


def _count(members: dict[str, float], cut: float) -> int:
    """Members last seen after ``cut``: walk from the newest end, stop at the first older one."""
    n = 0
    for t in reversed(members.values()):
        if t <= cut:
            break
        n += 1
    return n


def _times(times: array, now: float) -> list[float]:
    """The earlier times newest first, then push ``now`` keeping the newest TIMES_MAX."""
    previous = times[::-1].tolist()
    times.append(now)
    if len(times) > TIMES_MAX:
        del times[0]
    return previous


def _sticky(record: _Session | _Shared | _Account, now: float) -> str | None:
    return record.sticky if record.sticky is not None and now < record.until else None


class MemoryStore:
    """Bounded in-process ``StateStore``; see the module docstring for the layout."""

    def __init__(self, max_keys: int = 500_000) -> None:
        if max_keys < 1:
            raise ValueError(f"MemoryStore max_keys must be at least 1, got {max_keys}: set state.max_keys to a positive count")
        self.max_keys = max_keys
        self._data: dict[str, object] = {}
        self._evict_batch = min(1024, max_keys // 256)
        self._exchanges = 0
        self._run = {
            Session: self._session,
            Shared: self._shared,
            Account: self._account,
            Target: self._target,
            Birth: self._birth,
            Mark: self._mark,
            Stick: self._stick,
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

    # -- records -------------------------------------------------------------

    def _record(self, key: str, kind: type, now: float):
        """The live record of ``kind`` under ``key``, moved to the recent end; a fresh one if none."""
        data = self._data
        record = data.pop(key, None)
        if record is None or type(record) is not kind or record.expires <= now:
            record = kind()
            data[intern(key)] = record
            if len(data) > self.max_keys:
                self._evict()
        else:
            data[key] = record
        return record

    def _evict(self) -> None:
        data = self._data
        excess = len(data) - self.max_keys + self._evict_batch
        for victim in list(islice(data, excess)):
            del data[victim]

    def _sweep(self, now: float) -> None:
        data = self._data
        for key in list(islice(data, _SWEEP_SPAN)):
            if data[key].expires <= now:
                del data[key]

    # -- operations ------------------------------------------------------------

    def _birth(self, op: Birth, now: float) -> None:
        record = self._record(op.key, _Session, now)
        if record.birth is None:
            record.birth = op.record
        if record.expires < now + SESSION_TTL:
            record.expires = now + SESSION_TTL

    def _session(self, op: Session, now: float) -> tuple:
        s = self._record(op.key, _Session, now)
        birth = s.birth
        if birth is None:
            s.birth = op.birth
        if s.last <= now - RECENT_TTL:
            del s.times[:]
            s.loc = None
        loc, s.loc = s.loc, op.loc
        if now > s.last:
            s.last = now
        if s.expires < now + SESSION_TTL:
            s.expires = now + SESSION_TTL
        return birth, _times(s.times, now), loc, _sticky(s, now)

    def _shared(self, op: Shared, now: float) -> tuple:
        e = self._record(op.key, _Shared, now)
        accounts, sessions = e.accounts, e.sessions
        _see(accounts, op.account, now, SHARED_CAP)
        _see(sessions, op.session, now, SHARED_CAP)
        if e.expires < now + RECENT_TTL:
            e.expires = now + RECENT_TTL
        # Windows nest, so one walk from the newest end counts all three.
        c10, c1h = now - _A10, now - _A1H
        cday = now - _A24
        a10 = a1h = a24 = 0
        for t in reversed(accounts.values()):
            if t <= cday:
                break
            a24 += 1
            if t > c1h:
                a1h += 1
                if t > c10:
                    a10 += 1
        return a10, a1h, a24, _count(sessions, now - SHARED_SESSION_WINDOW), _sticky(e, now)

    def _account(self, op: Account, now: float) -> tuple:
        a = self._record(op.key, _Account, now)
        if a.last <= now - RECENT_TTL:
            del a.times[:]
            a.loc = None
        seen = a.seen
        stamp = now if now > a.newest else a.newest
        a.newest = stamp
        pop = seen.pop
        for tag, member in zip(_TAGS, op.members, strict=True):
            if member:
                k = tag + member
                pop(k, None)
                seen[intern(k)] = stamp
        counts = [0] * _N_COUNTS
        totals: dict[str, int] | None = None
        oldest_live = now - _LONGEST
        n = 0
        for k, t in reversed(seen.items()):
            if t <= oldest_live:
                break
            n += 1
            for i, w in _COUNTS[k[0]]:
                if t > now - w:
                    counts[i] += 1
        stale = len(seen) - n
        if stale:
            for k in list(islice(seen, stale)):
                del seen[k]
        if n > ACCOUNT_CAP:
            totals = {}
            for k in seen:
                totals[k[0]] = totals.get(k[0], 0) + 1
            if max(totals.values()) > ACCOUNT_CAP:
                self._cap_account(seen, totals, now)
                return self._account_result(a, op, now, self._recount(seen, now))
        return self._account_result(a, op, now, counts)

    @staticmethod
    def _cap_account(seen: dict[str, float], totals: dict[str, int], now: float) -> None:
        """Drop each over-full kind's least recently seen members."""
        excess = {tag: n - ACCOUNT_CAP for tag, n in totals.items() if n > ACCOUNT_CAP}
        for k in list(seen):
            left = excess.get(k[0])
            if left:
                del seen[k]
                excess[k[0]] = left - 1

    @staticmethod
    def _recount(seen: dict[str, float], now: float) -> list[int]:
        counts = [0] * _N_COUNTS
        for k, t in seen.items():
            for i, w in _COUNTS[k[0]]:
                if t > now - w:
                    counts[i] += 1
        return counts

    def _account_result(self, a: _Account, op: Account, now: float, counts: list[int]) -> tuple:
        times = _times(a.times, now)
        slots = a.slots
        slot = floor(now / SLOT_S)
        if not slots or slot > slots[-1]:
            slots.append(slot)
        elif slot not in slots:
            slots.append(slot)
            ordered = sorted(slots)
            slots[:] = array("q", ordered)
        hist = [0] * HOURS
        drop = 0
        for s in slots:
            end = (s + 1) * SLOT_S
            b = 0 if end > now else floor((now - end) / HOUR)
            if b >= HOURS:
                drop += 1
            else:
                hist[b] += 1
        if drop:
            kept = [s for s in slots if (s + 1) * SLOT_S > now - DAY]
            slots[:] = array("q", kept)
        running = 0
        hours = []
        for c in hist:
            running += c
            hours.append(running)
        hour, day = floor(now / HOUR), floor(now / DAY)
        if hour == a.hour:
            a.hour_n += 1
        else:
            a.hour_prev = a.hour_n if hour == a.hour + 1 else 0
            a.hour, a.hour_n = hour, 1
        if day == a.day:
            a.day_n += 1
        else:
            a.day_prev = a.day_n if day == a.day + 1 else 0
            a.day, a.day_n = day, 1
        loc, a.loc = a.loc, op.loc
        if now > a.last:
            a.last = now
        if a.expires < now + RECENT_TTL:
            a.expires = now + RECENT_TTL
        return counts, times, hours, a.hour_n, a.hour_prev, a.day_n, a.day_prev, loc, _sticky(a, now)

    def _target(self, op: Target, now: float) -> list[str]:
        t = self._record(op.key, _Target, now)
        previous = t.records
        t.records = [op.record, *previous[: TARGET_MAX - 1]]
        t.expires = now + TARGET_TTL
        return previous

    def _mark(self, op: Mark, now: float) -> None:
        a = self._record(op.key, _Account, now)
        stamp = now if now > a.newest else a.newest
        a.newest = stamp
        seen = a.seen
        k = _BURST_TAG + op.target
        seen.pop(k, None)
        seen[intern(k)] = stamp
        if a.expires < now + RECENT_TTL:
            a.expires = now + RECENT_TTL

    def _stick(self, op: Stick, now: float) -> None:
        record = self._record(op.key, _KIND_OF.get(op.key[:2], _Shared), now)
        record.sticky, record.until = op.decision, op.until
        if record.expires < op.until:
            record.expires = op.until


# Which record a key names, by its prefix (gateway.signals.store, "Keys").
_KIND_OF: dict[str, type] = {SESSION_PREFIX: _Session, ACCOUNT_PREFIX: _Account, TARGET_PREFIX: _Target}
