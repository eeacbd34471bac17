"""The in-process state store: one small record per entity, bounded, on the caller's clock.

Implements the contract in ``gateway.state.store`` exactly as the Redis
backend does (both are driven by the same conformance tests).

Layout, chosen for speed and bytes per entity: one ``dict`` of entity key ->
record, in recency order (every op moves its entity to the recent end); past
``max_keys`` the least recently used entities are evicted, a few at once so
the cost stays amortised O(1). A record is a slotted object. A shared
entity's recency set is a flat ``[member, stamp, ...]`` list in time order
while small (its windows are counted walking from the newest end), and past
``_BIG_FROM`` members a dict plus a sorted ``array('d')`` of the stamps (its
windows are counted by bisection). An account keeps one such set per kind.
A set of one member (an account's one device, a device's one account: most
sets) is the member alone, its stamp kept beside it. Action times are packed
doubles in a ``bytearray``, oldest first: unlike an array, a bytearray is not
tracked by the cyclic garbage collector, whose full passes walk every tracked
object (most of a second with a few hundred thousand records held; see
bench/bench_signals.py). Members are interned: one account id in many sets is
stored once.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from itertools import islice
from math import floor
from sys import intern

from gateway.state.store import (
    ACCOUNT_CAP,
    ACCOUNT_KINDS,
    ACCOUNT_WINDOWS,
    CROWD_CAP,
    CROWD_WINDOW,
    DAY,
    HOUR,
    HOURS,
    MARK_KINDS,
    MOVE_GAP,
    MOVES_MAX,
    PEERS_MAX,
    RECENT_TTL,
    SESSION_TTL,
    SHARED_ACCOUNT_WINDOWS,
    SHARED_CAP,
    SHARED_SESSION_WINDOW,
    SLOT_S,
    TARGET_MAX,
    TARGET_TTL,
    TIMES_MAX,
    Account,
    AccountSeen,
    BatchResult,
    Birth,
    Crowd,
    Mark,
    Op,
    Peers,
    Session,
    SessionSeen,
    Shared,
    SharedSeen,
    Stick,
    Target,
    stick_kind,
)

_new = tuple.__new__  # builds a typed answer without its NamedTuple's Python-level __new__
_SWEEP_EVERY = 64  # exchanges between sweeps of the least recently used end
_SWEEP_SPAN = 32  # records examined per sweep

_MARKED = {kind: ACCOUNT_KINDS.index(kind) for kind in MARK_KINDS}
_N_KINDS = len(ACCOUNT_KINDS)
_EMPTY: list = []  # shared by every account's unused kinds: ``_see`` never grows an empty set in place
_A10, _A1H, _A24 = SHARED_ACCOUNT_WINDOWS
# Times, hourly counts and an account's lone-member stamps are packed (bytearray, bytes): not arrays,
# which the cyclic GC tracks (see the module docstring).
_pack_time, _first_time = struct.Struct("d").pack, struct.Struct("d").unpack_from
_TIMES = [struct.Struct(f"{n}d").unpack for n in range(TIMES_MAX + 1)]  # by count
_STAMPS = struct.Struct(f"{_N_KINDS}d")
_NO_STAMPS = bytes(_STAMPS.size)
_HOUR = struct.Struct("3q")  # clock hour, active slots, last slot counted
_INTS = [struct.Struct(f"{n}q").unpack for n in range(3 * HOURS + 1)]


class _Session:
    __slots__ = ("expires", "birth", "times", "loc", "last", "sticky", "until", "place", "lane", "fixed", "moves",
                 "switches")

    def __init__(self) -> None:
        self.expires = 0.0
        self.birth: str | None = None
        self.times = bytearray()  # packed doubles, oldest first
        self.loc: str | None = None
        self.last = 0.0  # the last action's time (times and loc are dropped after RECENT_TTL idle)
        self.sticky: str | None = None
        self.until = 0.0
        self.place = self.lane = ""  # where the last action came from, for moves
        self.fixed = False
        self.moves: bytearray | None = None  # times of the recent moves (packed doubles), oldest first
        self.switches: bytearray | None = None  # times of the recent device switches, oldest first


class _Shared:
    __slots__ = ("expires", "accounts", "accounts_at", "sessions", "sessions_at", "sticky", "until")

    def __init__(self) -> None:
        self.expires = 0.0
        self.accounts: str | list | _Big = _EMPTY  # a recency set (a lone member's stamp in accounts_at)
        self.accounts_at = 0.0
        self.sessions: str | list | _Big = _EMPTY
        self.sessions_at = 0.0
        self.sticky: str | None = None
        self.until = 0.0


class _Account:
    __slots__ = ("expires", "kinds", "stamps", "times", "hourly", "hour", "hour_n", "hour_prev", "day", "day_n",
                 "day_prev", "loc", "last", "sticky", "until", "peers")

    def __init__(self) -> None:
        self.expires = 0.0
        self.kinds: list = [_EMPTY] * _N_KINDS  # a recency set per kind
        self.stamps = _NO_STAMPS  # a lone member's stamp, per kind (packed doubles)
        self.times = bytearray()  # packed doubles, oldest first
        self.hourly = bytearray()  # (clock hour, active slots, last slot) packed, for the last HOURS hours
        self.hour = self.hour_n = self.hour_prev = 0
        self.day = self.day_n = self.day_prev = 0
        self.loc: str | None = None
        self.last = 0.0
        self.sticky: str | None = None
        self.until = 0.0
        self.peers: tuple[str, ...] = ()


class _Target:
    __slots__ = ("expires", "records")

    def __init__(self) -> None:
        self.expires = 0.0
        self.records: list[str] = []  # newest first


class _Crowd:
    __slots__ = ("expires", "members")

    def __init__(self) -> None:
        self.expires = 0.0
        self.members: list | _Big = _EMPTY  # a recency set of sessions


class _Big:
    """A large recency set (a busy address, prefix, ASN): member -> stamp in time order, plus the
    same stamps sorted, so a window is counted by bisection instead of a walk."""

    __slots__ = ("index", "stamps")

    def __init__(self, small: list) -> None:
        self.index: dict[str, float] = dict(zip(small[::2], small[1::2], strict=True))
        self.stamps = array("d", small[1::2])


_BIG_FROM = 4  # members; smaller sets are a flat [member, stamp, member, stamp, ...] list (bytes matter more)


def _see(members: list | _Big, member: str, now: float, cap: int) -> list | _Big:
    """Mark ``member`` seen now (clamped to the newest), at the newest end; drop the least recent past ``cap``.

    Returns the set, which may have changed form.
    """
    if type(members) is list:
        if not members:
            return [intern(member), now]  # a new list: empty sets may be shared
        if members[-1] > now:
            now = members[-1]
        if members[-2] == member:  # already the newest (the same address or device as last time)
            members[-1] = now
            return members
        if member in members:  # a member (str) never equals a stamp (float)
            i = members.index(member)
            member = members[i]
            del members[i : i + 2]
        else:
            member = intern(member)
        members.append(member)
        members.append(now)
        if len(members) > 2 * cap:
            del members[:2]
        return _Big(members) if len(members) > 2 * _BIG_FROM else members
    index, stamps = members.index, members.stamps
    if stamps[-1] > now:
        now = stamps[-1]
    old = index.pop(member, None)
    if old is None:
        member = intern(member)
    else:
        del stamps[bisect_left(stamps, old)]
    index[member] = now
    stamps.append(now)
    if len(index) > cap:
        del index[next(iter(index))]
        del stamps[0]
    return members


def _since(members: list | _Big, cut: float) -> int:
    """Members last seen after ``cut``."""
    if type(members) is list:
        n = 0
        for i in range(len(members) - 1, 0, -2):
            if members[i] <= cut:
                break
            n += 1
        return n
    stamps = members.stamps
    return len(stamps) - bisect_right(stamps, cut)


def _crowd_since(members: list | _Big, cut: float) -> list[str] | None:
    """Members last seen after ``cut``, least recent first; None when they fill the crowd."""
    n = _since(members, cut) if members else 0
    if n >= CROWD_CAP:
        return None
    if type(members) is list:
        return members[len(members) - 2 * n :: 2]
    return list(islice(reversed(members.index), n))[::-1] if n else []


def _see_slot(members: str | list | _Big, stamp: float, member: str, now: float, cap: int) -> tuple:
    """``_see`` for a set that may be a lone member (a str whose stamp is kept apart, the common case:
    an account's one device, a device's one account), which saves a list per set.

    Returns the set and, for a lone member, its stamp.
    """
    if type(members) is str:
        if stamp > now:
            now = stamp
        if members == member:
            return members, now
        return _see([members, stamp], member, now, cap), 0.0
    if not members:
        return intern(member), now
    return _see(members, member, now, cap), 0.0


def _since_slot(members: str | list | _Big, stamp: float, cut: float) -> int:
    if type(members) is str:
        return 1 if stamp > cut else 0
    return _since(members, cut) if members else 0


def _times(times: bytearray, now: float) -> list[float]:
    """The earlier times newest first, then push ``now`` keeping the newest TIMES_MAX."""
    previous = list(_TIMES[len(times) >> 3](times))
    previous.reverse()
    _push(times, now, TIMES_MAX)
    return previous


def _push(times: bytearray, now: float, keep: int) -> None:
    """Append ``now`` to packed times, keeping the newest ``keep``."""
    times += _pack_time(now)
    if len(times) > 8 * keep:
        del times[:8]


def _event(events: bytearray | None, now: float) -> bytearray:
    """Record an event (a move, a switch) at ``now``, keeping the newest MOVES_MAX."""
    if events is None:
        events = bytearray()
    _push(events, now, MOVES_MAX)
    return events


def _recent(events: bytearray | None, cut: float) -> int:
    """Drop the events at or before ``cut``; how many are left."""
    if not events:
        return 0
    while events and _first_time(events)[0] <= cut:
        del events[:8]
    return len(events) >> 3


def _active(hourly: bytearray, hour: int, slot: int) -> list[int]:
    """Count ``slot`` into its clock hour; the active slots of each recent hour, oldest first."""
    end = len(hourly) - _HOUR.size
    newest, slots, last = _HOUR.unpack_from(hourly, end) if hourly else (None, 0, 0)
    if newest == hour:
        if slot > last:
            _HOUR.pack_into(hourly, end, hour, slots + 1, slot)
    else:
        hourly += _HOUR.pack(hour, 1, slot)
        if _HOUR.unpack_from(hourly)[0] <= hour - HOURS:
            step = _HOUR.size
            hourly[:] = b"".join(hourly[i : i + step] for i in range(0, len(hourly), step)
                                 if _HOUR.unpack_from(hourly, i)[0] > hour - HOURS)
        if len(hourly) > HOURS * _HOUR.size:  # hours out of order: the earliest added go first
            del hourly[: -HOURS * _HOUR.size]
    return list(_INTS[len(hourly) >> 3](hourly)[1::3])


def _bucket(bucket: int, stored: int, n: int, previous: int) -> tuple[int, int, int]:
    """An action counted into its clock bucket: (the bucket, its count, the count of the one just before)."""
    if bucket == stored:
        return stored, n + 1, previous
    return bucket, 1, n if bucket == stored + 1 else 0


def _touch(record: _Session | _Shared | _Account | _Crowd, expires: float) -> None:
    """A record lives at least until ``expires`` (the contract's Life rule)."""
    if record.expires < expires:
        record.expires = expires


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
            Crowd: self._crowd,
            Birth: self._birth,
            Mark: self._mark,
            Peers: self._peers,
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
        _touch(record, now + SESSION_TTL)

    def _session(self, op: Session, now: float) -> SessionSeen:
        s = self._record(op.key, _Session, now)
        birth = s.birth
        if birth is None and op.birth:
            s.birth = op.birth
        if s.last <= now - RECENT_TTL:
            del s.times[:]
            s.loc = None
        loc, s.loc = s.loc, op.loc
        if op.fixed and s.fixed and s.lane == op.lane and s.place != op.place and now - s.last < MOVE_GAP:
            s.moves = _event(s.moves, now)
        if op.lane and s.lane and op.lane != s.lane:
            s.switches = _event(s.switches, now)
        s.place, s.lane, s.fixed = op.place, op.lane, op.fixed
        cut = now - DAY
        moves, switches = _recent(s.moves, cut), _recent(s.switches, cut)
        if now > s.last:
            s.last = now
        _touch(s, now + SESSION_TTL)
        return _new(SessionSeen, (birth, _times(s.times, now), loc, _sticky(s, now), moves, switches))

    def _shared(self, op: Shared, now: float) -> SharedSeen:
        e = self._record(op.key, _Shared, now)
        accounts, at = e.accounts, e.accounts_at = _see_slot(e.accounts, e.accounts_at, op.account, now, SHARED_CAP)
        sessions, st = e.sessions, e.sessions_at = _see_slot(e.sessions, e.sessions_at, op.session, now, SHARED_CAP)
        _touch(e, now + RECENT_TTL)
        return _new(SharedSeen, (_since_slot(accounts, at, now - _A10), _since_slot(accounts, at, now - _A1H),
                                 _since_slot(accounts, at, now - _A24),
                                 _since_slot(sessions, st, now - SHARED_SESSION_WINDOW), _sticky(e, now)))

    def _account(self, op: Account, now: float) -> AccountSeen:
        if len(op.members) != _N_KINDS:
            raise ValueError(f"Account op with {len(op.members)} members; one per ACCOUNT_KINDS item ({_N_KINDS})")
        a = self._record(op.key, _Account, now)
        if a.last <= now - RECENT_TTL:
            del a.times[:]
            a.loc = None
        kinds, stamps = a.kinds, list(_STAMPS.unpack(a.stamps))
        counts = []
        for i, member in enumerate(op.members):
            members, stamp = kinds[i], stamps[i]
            if member:
                members, stamp = kinds[i], stamps[i] = _see_slot(members, stamp, member, now, ACCOUNT_CAP)
            for window in ACCOUNT_WINDOWS[i]:
                counts.append(_since_slot(members, stamp, now - window))
        a.stamps = _STAMPS.pack(*stamps)
        return self._account_result(a, op, now, counts)

    def _account_result(self, a: _Account, op: Account, now: float, counts: list[int]) -> AccountSeen:
        times = _times(a.times, now)
        hour = floor(now / HOUR)
        hours = _active(a.hourly, hour, floor(now / SLOT_S))
        a.hour, a.hour_n, a.hour_prev = _bucket(hour, a.hour, a.hour_n, a.hour_prev)
        a.day, a.day_n, a.day_prev = _bucket(floor(now / DAY), a.day, a.day_n, a.day_prev)
        loc, a.loc = a.loc, op.loc
        if now > a.last:
            a.last = now
        _touch(a, now + RECENT_TTL)
        return _new(AccountSeen, (counts, times, hours, a.hour_n, a.hour_prev, a.day_n, a.day_prev, loc, list(a.peers),
                                  _sticky(a, now)))

    def _target(self, op: Target, now: float) -> list[str]:
        t = self._record(op.key, _Target, now)
        previous = t.records
        t.records = [op.record, *previous[: TARGET_MAX - 1]]
        t.expires = now + TARGET_TTL
        return previous

    def _crowd(self, op: Crowd, now: float) -> list[str]:
        c = self._record(op.key, _Crowd, now)
        members = c.members
        seen = _crowd_since(members, now - CROWD_WINDOW)
        c.members = _see(members, op.member, now, CROWD_CAP)
        _touch(c, now + CROWD_WINDOW)
        return seen

    def _mark(self, op: Mark, now: float) -> None:
        k = _MARKED.get(op.kind)
        if k is None:
            raise ValueError(f"Mark into {op.kind!r}: the kinds are {', '.join(_MARKED)}")
        a = self._record(op.key, _Account, now)
        stamps = list(_STAMPS.unpack(a.stamps))
        a.kinds[k], stamps[k] = _see_slot(a.kinds[k], stamps[k], op.target, now, ACCOUNT_CAP)
        a.stamps = _STAMPS.pack(*stamps)
        _touch(a, now + RECENT_TTL)

    def _peers(self, op: Peers, now: float) -> None:
        a = self._record(op.key, _Account, now)
        a.peers = tuple(intern(p) for p in op.peers[-PEERS_MAX:])
        _touch(a, now + RECENT_TTL)

    def _stick(self, op: Stick, now: float) -> None:
        record = self._record(op.key, _STICKY_RECORDS[stick_kind(op.key)], now)
        record.sticky, record.until = op.decision, op.until
        _touch(record, op.until)


_STICKY_RECORDS: dict[str, type] = {"session": _Session, "account": _Account, "shared": _Shared}
