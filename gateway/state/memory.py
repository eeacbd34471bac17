"""The in-process state store: one packed record per entity, bounded, on the caller's clock.

Implements the contract in ``gateway.state.store`` exactly as the Redis
backend does (both are driven by the same conformance tests).

Layout, chosen for the cyclic garbage collector, bytes per entity and speed:
one ``dict`` of entity key -> record, in recency order (every op moves its
entity to the recent end); past ``max_keys`` the least recently used entities
are evicted, a few at once so the cost stays amortised O(1). A record is ONE
``bytes`` object (a target's, a ``bytearray``): a ``struct`` header (byte 0
its kind, bytes 1-8 its expiry) then variable parts; an op reads the header
and puts back a record built from slices of the old one. The cyclic garbage
collector tracks none of this (a dict of ``str`` -> ``bytes`` included), so its
full passes no longer walk the store: they took most of a second with a few
hundred thousand records held (bench/bench_gc.py holds a million sessions').
What it does track is bounded: the two tables of big sets below (one entry per
big set; the sets themselves, dicts of strings and floats, untracked) and
``_LISTS_MAX`` hot targets' lists.

A recency set is its size and newest stamp (in the header), the older
members' stamps (doubles, oldest first: ascending, since seeing stores
``max(now, newest)``), counted over a window by bisection, and every member's
name, UTF-8 (``surrogatepass``: any ``str`` round-trips) each after an ``FF``
byte and the last closed by one, oldest first. UTF-8 never holds ``FF``,
``FE`` or ``FD``: a member is found by searching ``FF <name> FF``, and
``FE``/``FD`` separate an account's sets. A shared entity's set past ``_BIG``
members (a carrier's address, a /24, an ASN, the official app's TLS stack) is
instead a dict member -> stamp, in recency order, beside the record: found by
hashing, not searched. A list handed back whole (a target's records, an
account's peers) is text joined by a character none of its items holds: it
comes back in two C calls. The ``_LISTS_MAX`` most recently used busy targets
(a popular post is liked again and again) keep their records as a list,
written back into the record when they leave.

An account's head kinds (address, prefix, session, class, ASN, country,
device, client) mostly see the same members request after request. Their
newest members are kept together, their newest stamps as ``last``, with the
counts the last Account op gave and the time the first of them can change.
An Account op seeing those same members before then (its clock not behind)
works on the tail kinds (target, burst, crowd) only; one where some head
member differs works on those kinds only; the general path, which works every
set out in full, is left for a clock gone back.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from itertools import islice
from math import floor, inf
from struct import Struct

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

_SWEEP_EVERY = 64  # exchanges between sweeps of the least recently used end
_SWEEP_SPAN = 32  # records examined per sweep
CLOCK_LIMIT = 1e11  # seconds either side of 1970 (the year 5138): hours, days and slots fit 32 bits
_NAMES_MAX = 64  # members' search patterns remembered: a request repeats its few (a flood costs recomputation)
_LISTS_MAX = 256  # busy targets whose records are kept as a list of str, a bound on what the GC sees
_LIST_FROM = 8  # records a target has before they are kept as a list

_SESSION, _SHARED, _ACCOUNT, _TARGET, _CROWD = range(1, 6)  # a record's kind, its byte 0

_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__
_D = Struct("=d")
_EXPIRES = _D  # at offset 1 of every record
_pack_d = _D.pack
_unpack_d = _D.unpack_from
_I = Struct("=i")
_DOUBLES = [Struct(f"={n}d") for n in range(TIMES_MAX + 1)]
_SEP, _KIND_SEP, _PART_SEP = b"\xff", b"\xfe", b"\xfd"  # bytes UTF-8 never holds
_EMPTY_SET = _SEP  # the names of a set without members
_DELIMITERS = "\x00\x1f\x1e\x1d\x1c\x1b\x1a\x19"

# Session: kind, expires, last, until, flags, lengths of birth, sticky, loc, place, lane; the numbers of times,
# moves, switches. Then the times (newest first), moves, switches (oldest first), birth, sticky, loc, place, lane
# (what a Session op keeps, then what it replaces).
_SE = Struct("=BdddBIIIIIBBB")
_SE_SIZE = _SE.size
_FIXED, _HAS_BIRTH, _HAS_LOC, _HAS_STICKY = 1, 2, 4, 8
_FRESH_SESSION_HEAD = (_SESSION, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_FRESH_SESSION = _SE.pack(*_FRESH_SESSION_HEAD)

# Shared: kind, expires, the newest account and session stamps, the set sizes, flags, the length of the account
# names; with _STICKY then until, the sticky's length and the sticky. Then each inline set's older stamps
# (accounts, sessions), the account names, the session names (to the end). A set past _BIG members (flag
# _BIG_ACCOUNTS, _BIG_SESSIONS) is a dict instead, in MemoryStore._big_accounts / _big_sessions.
_SH = Struct("=BdddBBBI")
_SH_SIZE = _SH.size
_STICK = Struct("=dI")
_STICKY, _BIG_ACCOUNTS, _BIG_SESSIONS = 1, 2, 4
_BIG = 16
_FIRST_SHARED = SharedSeen(1, 1, 1, 1, None)  # a fresh entity's answer
_A10, _A1H, _A24 = SHARED_ACCOUNT_WINDOWS

# Account: kind, expires, last, hour, its count, the previous hour's, day, its count, the previous day's, the
# numbers of times and hour entries, the loc's length, flags, the tail names' length (_AC_HOT); each tail kind's
# (target, burst, crowd) set size and newest stamp (_AC_TAIL); the tail kinds' older stamps, the times (newest
# first), the hour entries (clock hours, last slots counted, active slots), loc, the tail kinds' names (a block
# per kind, joined by FE): what an Account op changes. Then what it mostly keeps: the horizon (while now <
# horizon the head counts stand), until, the lengths of sticky and peers, the number of head stamps (_AC_COLD);
# a byte per head kind, its set's size; a byte per head count; the head stamps, sticky, peers, and the head
# names: the head kinds' newest members joined by FE, FD, their other members (a names block per kind, joined by
# FE). A head kind whose member the last Account op saw (most, request after request) has its newest member in
# the first part and its newest stamp is ``last``: only its older members' stamps are kept. Any other head kind
# has "" there and every member's stamp kept (its set unseen since, or empty).
_N_KINDS = len(ACCOUNT_KINDS)
_HEAD = ACCOUNT_KINDS.index("target")  # the kinds before it: the head
_N_TAIL = _N_KINDS - _HEAD
_HEAD_WINDOWS = [(k, w) for k, windows in enumerate(ACCOUNT_WINDOWS[:_HEAD]) for w in windows]
_N_HEAD_COUNTS = len(_HEAD_WINDOWS)
_WINDOW_KINDS = [k for k, windows in enumerate(ACCOUNT_WINDOWS) for _ in windows]  # each count's kind
_AC_HOT = Struct("=BddiIIiIIBBIBI")
_AC_TAIL = Struct("=" + "Bd" * _N_TAIL)
_AC_COLD = Struct("=ddIIH")
_TAIL_AT = _AC_HOT.size
_OLDS_AT = _TAIL_AT + _AC_TAIL.size  # the tail kinds' older stamps
_NS = _AC_COLD.size  # offsets in the kept part: the head set sizes,
_COUNTS = _NS + _HEAD  # the head counts,
_STAMPS = _COUNTS + _N_HEAD_COUNTS  # the head stamps
_HAS_LOC_A, _HAS_STICKY_A = 1, 2  # flags in _AC_HOT
_FRESH_HEAD_OLDS = _KIND_SEP.join([_EMPTY_SET] * _HEAD)
_FRESH_TAIL_NAMES = _KIND_SEP.join([_EMPTY_SET] * _N_TAIL)
_FRESH_ACCOUNT = b"".join((_AC_HOT.pack(_ACCOUNT, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, len(_FRESH_TAIL_NAMES)),
                           _AC_TAIL.pack(*[0, 0.0] * _N_TAIL), _FRESH_TAIL_NAMES, _AC_COLD.pack(-inf, 0.0, 0, 0, 0),
                           bytes(_HEAD + _N_HEAD_COUNTS), _KIND_SEP * (_HEAD - 1), _PART_SEP, _FRESH_HEAD_OLDS))
_MARKED = {kind: ACCOUNT_KINDS.index(kind) - _HEAD for kind in MARK_KINDS}  # the tail kind a Mark sees into
_T1H, _T24 = ACCOUNT_WINDOWS[_HEAD]
(_B1H,), (_C24,) = ACCOUNT_WINDOWS[_HEAD + 1 :]
_HORIZON_MARGIN = 1.0  # seconds, far above the rounding of ``stamp + window``

# Target: kind, expires; then the records, newest first, as joined text; a bytearray. The _LISTS_MAX most recently
# used targets with _LIST_FROM records or more keep them as a list instead (MemoryStore._lists; a popular target
# is liked again and again): its record then holds kind and expires only, and the list is written back when it
# leaves.
_TA = Struct("=Bd")
_TA_SIZE = _TA.size

# Crowd: kind, expires, size, newest stamp; then the older stamps, the names.
_CR = Struct("=BdBd")
_CR_SIZE = _CR.size


def _later(a: float, b: float) -> float:
    return a if a > b else b


def _earlier(a: float, b: float) -> float:
    return a if a < b else b


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _joined(items) -> bytes:
    """``items`` as UTF-8 text: a delimiter none of them holds, then the items joined by it (b"" for none)."""
    if not items:
        return b""
    whole = "".join(items)
    for delimiter in _DELIMITERS:
        if delimiter not in whole:
            break
    else:  # items holding every usual delimiter: the first character none holds (there is one)
        held = set(whole)
        delimiter = next(c for c in map(chr, range(0x20, 0x110000)) if c not in held)
    return _utf8(delimiter + delimiter.join(items))


def _split(raw: bytes) -> list[str]:
    """The items ``_joined`` stored."""
    if not raw:
        return []
    text = _text(raw)
    return text[1:].split(text[0])


def _stamps(raw: bytes, at: int, n: int):
    """The ``n`` doubles at ``raw[at:]``, a sequence to bisect."""
    return _DOUBLES[n].unpack_from(raw, at) if n <= 16 else memoryview(raw)[at : at + 8 * n].cast("d")


def _see(olds: bytes, names: bytes, n: int, top: float, name: bytes, now: float, cap: int) -> tuple:
    """A recency set after ``name`` (``FF <UTF-8> FF``) was seen at ``now``: the member goes to the newest end,
    stamped ``max(now, newest)``; past ``cap`` the least recent is dropped.

    The set is its older stamps (bytes), names, size and newest stamp; so is the answer.
    """
    if not n:
        return b"", name, 1, now
    if top > now:
        now = top
    if names.endswith(name):  # already the newest
        return olds, names, n, now
    at = names.find(name)
    if at >= 0:  # the i-th oldest: its stamp leaves the older ones, the newest's joins them
        i = 8 * names.count(b"\xff", 0, at)
        return olds[:i] + olds[i + 8 :] + _pack_d(top), names[:at] + names[at + len(name) - 1 :] + name[1:], n, now
    if n < cap:
        return olds + _pack_d(top), names + name[1:], n + 1, now
    return olds[8:] + _pack_d(top), names[names.index(b"\xff", 1) :] + name[1:], n, now


def _see_in(raw: bytes, olds_at: int, olds_end: int, names_at: int, end: int, n: int, top: float, name: bytes,
            now: float, cap: int) -> tuple:
    """``_see`` on the set whose older stamps are ``raw[olds_at:olds_end]`` and names ``raw[names_at:end]``; the
    new older stamps and names as tuples of parts (slices of ``raw`` mostly), then size and newest stamp."""
    if not n:
        return (), (name,), 1, now
    if top > now:
        now = top
    if raw.endswith(name, names_at, end):  # already the newest
        return (raw[olds_at:olds_end],), (raw[names_at:end],), n, now
    at = raw.find(name, names_at, end)
    if at >= 0:  # the i-th oldest: its stamp leaves the older ones, the newest's joins them
        i = olds_at + 8 * raw.count(b"\xff", names_at, at)
        return ((raw[olds_at:i], raw[i + 8 : olds_end], _pack_d(top)),
                (raw[names_at:at], raw[at + len(name) - 1 : end], name[1:]), n, now)
    if n < cap:
        return (raw[olds_at:olds_end], _pack_d(top)), (raw[names_at:end], name[1:]), n + 1, now
    return ((raw[olds_at + 8 : olds_end], _pack_d(top)), (raw[raw.index(b"\xff", names_at + 1) : end], name[1:]),
            n, now)


def _over_all(stamps: bytes, n: int, cut: float) -> int:
    """How many of ``n`` ascending stamps are after ``cut``."""
    if not n or _unpack_d(stamps, 8 * n - 8)[0] <= cut:
        return 0
    if _unpack_d(stamps)[0] > cut:
        return n
    return n - bisect_right(_stamps(stamps, 0, n), cut)


def _over(olds: bytes, n: int, top: float, cut: float) -> int:
    """How many of a set's members (older stamps, size, newest stamp) were seen after ``cut``."""
    if not n or top <= cut:
        return 0
    if n == 1 or _unpack_d(olds)[0] > cut:
        return n
    return n - bisect_right(_stamps(olds, 0, n - 1), cut)


def _see_big(members: dict[str, float], member: str, now: float, top: float) -> float:
    """``_see`` on a big set; returns the newest stamp."""
    if top > now:
        now = top
    if members.pop(member, None) is None and len(members) >= SHARED_CAP:
        del members[next(iter(members))]
    members[member] = now
    return now


def _big_over(members: dict[str, float], n: int, cut: float) -> int:
    """How many of a big set's ``n`` members were seen after ``cut``."""
    return n if next(iter(members.values())) > cut else n - bisect_right(list(members.values()), cut)


def _big_accounts_over(members: dict[str, float], n: int, now: float) -> tuple[int, int, int]:
    """A big accounts set's counts over SHARED_ACCOUNT_WINDOWS."""
    if next(iter(members.values())) > now - _A10:  # every member in every window: the usual for a busy entity
        return n, n, n
    stamps = list(members.values())
    return n - bisect_right(stamps, now - _A10), n - bisect_right(stamps, now - _A1H), n - bisect_right(stamps, now - _A24)


def _big(olds: bytes, names: bytes, top: float) -> dict[str, float]:
    """An inline set as a big one."""
    stamps = memoryview(olds).cast("d").tolist() if olds else []
    stamps.append(top)
    return dict(zip([_text(name) for name in names.split(b"\xff")[1:-1]], stamps, strict=True))


def _recent(events: bytes, cut: float) -> bytes:
    """Events (doubles, in the order recorded) without the leading ones at or before ``cut``."""
    times = _DOUBLES[len(events) >> 3].unpack(events)
    for i, t in enumerate(times):
        if t > cut:
            return events[8 * i :]
    return b""


def _active(hourly: bytes, n: int, hour: int, slot: int) -> tuple[bytes, int, list[int]]:
    """Count ``slot`` into its clock hour: the entries (n hours, n last slots, n slot counts), their number, and
    each one's active slots."""
    if not n:
        return _I.pack(hour) + _I.pack(slot) + b"\x01", 1, [1]
    end = 4 * n
    if _I.unpack_from(hourly, end - 4)[0] == hour:
        if slot > _I.unpack_from(hourly, 2 * end - 4)[0]:
            counts = hourly[2 * end :]
            hourly = b"".join((hourly[: 2 * end - 4], _I.pack(slot), counts[:-1], bytes((counts[-1] + 1,))))
        return hourly, n, list(hourly[2 * end :])
    hours = [*memoryview(hourly)[: 4 * n].cast("i"), hour]
    lasts = [*memoryview(hourly)[4 * n : 8 * n].cast("i"), slot]
    counts = [*hourly[8 * n :], 1]
    oldest = hour - HOURS
    if hours[0] <= oldest:
        kept = [i for i, h in enumerate(hours) if h > oldest]
        hours, lasts, counts = [hours[i] for i in kept], [lasts[i] for i in kept], [counts[i] for i in kept]
    if len(hours) > HOURS:  # hours out of order: the earliest added go first
        hours, lasts, counts = hours[-HOURS:], lasts[-HOURS:], counts[-HOURS:]
    return array("i", hours).tobytes() + array("i", lasts).tobytes() + bytes(counts), len(hours), counts


class MemoryStore:
    """Bounded in-process ``StateStore``; see the module docstring for the layout."""

    def __init__(self, max_keys: int = 500_000) -> None:
        if max_keys < 1:
            raise ValueError(f"MemoryStore max_keys must be at least 1, got {max_keys}: set state.max_keys to a positive count")
        self.max_keys = max_keys
        self._data: dict[str, bytes] = {}
        self._big_accounts: dict[str, dict[str, float]] = {}  # a shared entity's big sets, by its key
        self._big_sessions: dict[str, dict[str, float]] = {}
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
        self._names: dict[str, bytes] = {}  # members' search patterns
        self._lists: dict[str, tuple[bytearray, list[str]]] = {}  # hot targets' records, by key

    def __len__(self) -> int:
        return len(self._data)

    async def exchange(self, ops: list[Op], now: float) -> BatchResult:
        return self.exchange_sync(ops, now)

    def exchange_sync(self, ops: list[Op], now: float) -> BatchResult:
        """Run ``ops`` in order on the clock ``now``; one result per op."""
        if not -CLOCK_LIMIT < now < CLOCK_LIMIT:
            raise ValueError(f"exchange at now={now!r}: the clock must be a time within {CLOCK_LIMIT:.0e} s of 1970")
        run = self._run
        values = [run[type(op)](op, now) for op in ops]
        self._exchanges += 1
        if not self._exchanges % _SWEEP_EVERY:
            self._sweep(now)
        return BatchResult(values)

    async def close(self) -> None:
        self._data.clear()
        self._lists.clear()
        self._big_accounts.clear()
        self._big_sessions.clear()

    # -- records -------------------------------------------------------------

    def _added(self) -> None:
        """A key was added: past ``max_keys`` evict the least recently used, a batch at once."""
        data = self._data
        if len(data) > self.max_keys:
            victims = list(islice(data, len(data) - self.max_keys + self._evict_batch))
            for victim in victims:
                del data[victim]
            if self._big_accounts or self._big_sessions:
                for victim in victims:
                    self._drop_big(victim)

    def _sweep(self, now: float) -> None:
        data = self._data
        for key in list(islice(data, _SWEEP_SPAN)):
            if _EXPIRES.unpack_from(data[key], 1)[0] <= now:
                del data[key]
                self._drop_big(key)

    def _drop_big(self, key: str) -> None:
        self._big_accounts.pop(key, None)
        self._big_sessions.pop(key, None)

    def _name(self, member: str) -> bytes:
        """``member``'s search pattern, ``FF <UTF-8> FF``."""
        names = self._names
        name = names.get(member)
        if name is None:
            if len(names) >= _NAMES_MAX:
                names.clear()
            name = names[member] = b"\xff" + member.encode("utf-8", "surrogatepass") + b"\xff"
        return name

    # -- sessions ------------------------------------------------------------

    def _birth(self, op: Birth, now: float) -> None:
        key = op.key
        record = self._data.pop(key, None)
        head = _SE.unpack_from(record) if record is not None and record[0] == _SESSION else None
        if head is None or head[1] <= now:
            birth = _utf8(op.record)
            self._data[key] = _SE.pack(_SESSION, _later(0.0, now + SESSION_TTL), 0.0, 0.0, _HAS_BIRTH, len(birth), 0,
                                       0, 0, 0, 0, 0, 0) + birth
            if record is None:
                self._added()
            return
        _, expires, last, until, flags, nb, ns, nl, npl, nla, nt, nm, nw = head
        if not flags & _HAS_BIRTH:
            birth = _utf8(op.record)
            at = _SE_SIZE + 8 * (nt + nm + nw)
            record = record[:at] + birth + record[at:]
            flags |= _HAS_BIRTH
            nb = len(birth)
        self._data[key] = _SE.pack(_SESSION, _later(expires, now + SESSION_TTL), last, until, flags, nb, ns, nl, npl,
                                   nla, nt, nm, nw) + record[_SE_SIZE:]

    def _session(self, op: Session, now: float) -> SessionSeen:
        key = op.key
        data = self._data
        record = data.pop(key, None)
        raw_loc = op.loc.encode("utf-8", "surrogatepass")
        raw_place = op.place.encode("utf-8", "surrogatepass")
        raw_lane = op.lane.encode("utf-8", "surrogatepass")
        expires = 0.0
        if record is not None and record[0] == _SESSION:
            _, expires, last, until, flags, nb, ns, nl, npl, nla, nt, nm, nw = _SE.unpack_from(record)
        if expires <= now:  # a fresh session
            raw_birth = op.birth.encode("utf-8", "surrogatepass")
            data[key] = b"".join((
                _SE.pack(_SESSION, _later(0.0, now + SESSION_TTL), _later(0.0, now), 0.0,
                         (_HAS_BIRTH if raw_birth else 0) | _HAS_LOC | (_FIXED if op.fixed else 0), len(raw_birth), 0,
                         len(raw_loc), len(raw_place), len(raw_lane), 1, 0, 0),
                _pack_d(now), raw_birth, raw_loc, raw_place, raw_lane))
            if record is None:
                self._added()
            return _new(SessionSeen, (None, [], None, None, 0, 0))
        at = _SE_SIZE + 8 * nt  # the moves, then the switches
        b = at + 8 * (nm + nw)  # the birth, then the sticky, the loc, the place, the lane
        st = b + nb
        lo = st + ns
        pl = lo + nl
        la = pl + npl
        if flags & _HAS_BIRTH:
            birth = record[b:st].decode("utf-8", "surrogatepass")
            raw_birth = b""
        else:
            birth = None
            raw_birth = op.birth.encode("utf-8", "surrogatepass")
            if raw_birth:
                flags |= _HAS_BIRTH
                nb = len(raw_birth)
        if last <= now - RECENT_TTL:  # idle: times and location are dropped
            times, loc, kept = [], None, _SE_SIZE
        else:
            times = list(_DOUBLES[nt].unpack_from(record, _SE_SIZE))
            loc = record[lo:pl].decode("utf-8", "surrogatepass") if flags & _HAS_LOC else None
            kept = _SE_SIZE + 8 * TIMES_MAX - 8 if nt == TIMES_MAX else at
        sticky = record[st:lo].decode("utf-8", "surrogatepass") if flags & _HAS_STICKY and now < until else None
        same_lane = nla == len(raw_lane) and record.startswith(raw_lane, la)
        moved = (op.fixed and flags & _FIXED and same_lane and now - last < MOVE_GAP
                 and not (npl == len(raw_place) and record.startswith(raw_place, pl)))
        switched = raw_lane and nla and not same_lane
        if moved or switched or nm or nw:  # the events: recorded, then those a day old dropped
            moves, switches = record[at : at + 8 * nm], record[at + 8 * nm : b]
            cut = now - DAY
            if moved:
                moves = (moves + _pack_d(now))[-8 * MOVES_MAX :]
            if switched:
                switches = (switches + _pack_d(now))[-8 * MOVES_MAX :]
            moves = _recent(moves, cut) if moves else moves
            switches = _recent(switches, cut) if switches else switches
            nm, nw = len(moves) >> 3, len(switches) >> 3
            kept_texts = b"".join((moves, switches, raw_birth, record[b:lo]))
        else:
            kept_texts = record[at:lo] if not raw_birth else raw_birth + record[st:lo]
        data[key] = b"".join((
            _SE.pack(_SESSION, expires if expires > now + SESSION_TTL else now + SESSION_TTL, last if last > now else now,
                     until, flags & ~_FIXED | _HAS_LOC | (_FIXED if op.fixed else 0), nb, ns, len(raw_loc),
                     len(raw_place), len(raw_lane), (kept - _SE_SIZE >> 3) + 1, nm, nw),
            _pack_d(now), record[_SE_SIZE:kept], kept_texts, raw_loc, raw_place, raw_lane))
        return _new(SessionSeen, (birth, times, loc, sticky, nm, nw))

    def _session_stick(self, key: str, sticky: bytes, until: float, now: float) -> None:
        record = self._data.pop(key, None)
        absent = record is None
        head = _SE.unpack_from(record) if not absent and record[0] == _SESSION else None
        if head is None or head[1] <= now:
            record, head = _FRESH_SESSION, _FRESH_SESSION_HEAD
        _, expires, last, _, flags, nb, ns, nl, npl, nla, nt, nm, nw = head
        p = _SE_SIZE + 8 * (nt + nm + nw) + nb
        self._data[key] = b"".join((
            _SE.pack(_SESSION, _later(expires, until), last, until, flags | _HAS_STICKY, nb, len(sticky), nl, npl, nla,
                     nt, nm, nw),
            record[_SE_SIZE:p], sticky, record[p + ns :]))
        if absent:
            self._added()

    # -- shared entities -------------------------------------------------------

    def _shared(self, op: Shared, now: float) -> SharedSeen:
        key = op.key
        data = self._data
        record = data.pop(key, None)
        names = self._names
        expires = 0.0
        if record is not None and record[0] == _SHARED:
            _, expires, a_top, s_top, na, nss, flags, alen = _SH.unpack_from(record)
        if expires <= now:  # a fresh entity
            if record is not None:
                self._drop_big(key)
            account = names.get(op.account) or self._name(op.account)
            data[key] = b"".join((_SH.pack(_SHARED, _later(0.0, now + RECENT_TTL), now, now, 1, 1, 0, len(account)),
                                  account, names.get(op.session) or self._name(op.session)))
            if record is None:
                self._added()
            return _FIRST_SHARED
        if flags == _BIG_ACCOUNTS | _BIG_SESSIONS:  # a busy entity (an ASN, a TLS stack): its header only
            big_accounts, big_sessions = self._big_accounts[key], self._big_sessions[key]
            a_top = _see_big(big_accounts, op.account, now, a_top)
            s_top = _see_big(big_sessions, op.session, now, s_top)
            na, nss = len(big_accounts), len(big_sessions)
            data[key] = _SH.pack(_SHARED, expires if expires > now + RECENT_TTL else now + RECENT_TTL, a_top, s_top, na,
                                 nss, flags, 0)
            return _new(SharedSeen, (*_big_accounts_over(big_accounts, na, now),
                                     _big_over(big_sessions, nss, now - SHARED_SESSION_WINDOW), None))
        p = _SH_SIZE  # the older account stamps
        sticky = None
        if flags & _STICKY:
            until, n = _STICK.unpack_from(record, p)
            p += 12 + n
            if now < until:
                sticky = record[p - n : p].decode("utf-8", "surrogatepass")
        big_accounts = big_sessions = None
        if flags & _BIG_ACCOUNTS:
            big_accounts = self._big_accounts[key]
            q = p  # the older session stamps
        else:
            account = names.get(op.account) or self._name(op.account)
            q = p + 8 * na - 8 if na else p
        if flags & _BIG_SESSIONS:
            big_sessions = self._big_sessions[key]
            r = q  # the account names
        else:
            session = names.get(op.session) or self._name(op.session)
            r = q + 8 * nss - 8 if nss else q
        end = r + alen  # the session names
        expires = expires if expires > now + RECENT_TTL else now + RECENT_TTL
        if (not flags & (_BIG_ACCOUNTS | _BIG_SESSIONS) and na and nss and record.endswith(session)
                and record.endswith(account, r, end)):  # both the newest again: only the stamps move
            record = _SH.pack(_SHARED, expires, a_top if a_top > now else now, s_top if s_top > now else now, na, nss,
                              flags, alen) + record[_SH_SIZE:]
        else:
            a_olds = a_names = s_olds = s_names = ()
            if big_accounts is not None:
                a_top = _see_big(big_accounts, op.account, now, a_top)
                na = len(big_accounts)
            else:
                a_olds, a_names, na, a_top = _see_in(record, p, q, r, end, na, a_top, account, now, SHARED_CAP)
                if na > _BIG:
                    big_accounts = self._big_accounts[key] = _big(b"".join(a_olds), b"".join(a_names), a_top)
                    flags |= _BIG_ACCOUNTS
                    a_olds = a_names = ()
            if big_sessions is not None:
                s_top = _see_big(big_sessions, op.session, now, s_top)
                nss = len(big_sessions)
            else:
                s_olds, s_names, nss, s_top = _see_in(record, q, r, end, len(record), nss, s_top, session, now,
                                                      SHARED_CAP)
                if nss > _BIG:
                    big_sessions = self._big_sessions[key] = _big(b"".join(s_olds), b"".join(s_names), s_top)
                    flags |= _BIG_SESSIONS
                    s_olds = s_names = ()
            record = b"".join((_SH.pack(_SHARED, expires, a_top, s_top, na, nss, flags, sum(map(len, a_names))),
                               record[_SH_SIZE:p], *a_olds, *s_olds, *a_names, *s_names))
            q = p if big_accounts is not None else p + 8 * na - 8
        data[key] = record
        # each set's newest was seen now and counts in every window, the older ones after the cut
        cut = now - _A10
        if big_accounts is not None:
            a10, a1h, a24 = _big_accounts_over(big_accounts, na, now)
        elif na == 1 or _unpack_d(record, p)[0] > cut:
            a10 = a1h = a24 = na
        else:
            stamps = _stamps(record, p, na - 1)
            a10, a1h, a24 = (na - bisect_right(stamps, cut), na - bisect_right(stamps, now - _A1H),
                             na - bisect_right(stamps, now - _A24))
        cut = now - SHARED_SESSION_WINDOW
        if big_sessions is not None:
            sessions = _big_over(big_sessions, nss, cut)
        elif nss == 1 or _unpack_d(record, q)[0] > cut:
            sessions = nss
        else:
            sessions = nss - bisect_right(_stamps(record, q, nss - 1), cut)
        return _new(SharedSeen, (a10, a1h, a24, sessions, sticky))

    def _shared_stick(self, key: str, sticky: bytes, until: float, now: float) -> None:
        record = self._data.pop(key, None)
        head = _SH.unpack_from(record) if record is not None and record[0] == _SHARED else None
        if head is None or head[1] <= now:  # created empty
            if record is not None:
                self._drop_big(key)
            expires, a_top, s_top, na, nss, flags, alen, sets = 0.0, 0.0, 0.0, 0, 0, 0, 1, _EMPTY_SET + _EMPTY_SET
        else:
            _, expires, a_top, s_top, na, nss, flags, alen = head
            p = _SH_SIZE + 12 + _STICK.unpack_from(record, _SH_SIZE)[1] if flags & _STICKY else _SH_SIZE
            sets = record[p:]
        self._data[key] = b"".join((_SH.pack(_SHARED, _later(expires, until), a_top, s_top, na, nss, flags | _STICKY,
                                             alen), _STICK.pack(until, len(sticky)), sticky, sets))
        if record is None:
            self._added()

    # -- accounts ------------------------------------------------------------

    def _account(self, op: Account, now: float) -> AccountSeen:
        members = op.members
        if len(members) != _N_KINDS:
            raise ValueError(f"Account op with {len(members)} members; one per ACCOUNT_KINDS item ({_N_KINDS})")
        key = op.key
        data = self._data
        record = data.pop(key, None)
        new = record is None
        expires = 0.0
        if not new and record[0] == _ACCOUNT:
            (_, expires, last, hour, hour_n, hour_prev, day, day_n, day_prev, nt, nh, nl, flags,
             tail_names_len) = _AC_HOT.unpack_from(record)
        if expires <= now:  # a fresh account
            newest = "\x00".join(members[:_HEAD])
            if now > 0.0 and newest.count("\x00") == _HEAD - 1:
                return self._account_fresh(key, op, newest, now, new)
            record = _FRESH_ACCOUNT
            (_, expires, last, hour, hour_n, hour_prev, day, day_n, day_prev, nt, nh, nl, flags,
             tail_names_len) = _AC_HOT.unpack_from(record)
        tail = _AC_TAIL.unpack_from(record, _TAIL_AT)
        n, _, nb, _, nc, _ = tail
        times_at = _OLDS_AT + 8 * ((n - 1 if n else 0) + (nb - 1 if nb else 0) + (nc - 1 if nc else 0))
        hours_at = times_at + 8 * nt
        loc_at = hours_at + 9 * nh
        tail_names_at = loc_at + nl
        kept = tail_names_at + tail_names_len  # the part an Account op mostly keeps
        horizon, until, nst, npe, nhs = _AC_COLD.unpack_from(record, kept)
        sticky_at = kept + _STAMPS + 8 * nhs
        names_at = sticky_at + nst + npe
        at = (_OLDS_AT, times_at, tail_names_at, kept, sticky_at, names_at)
        sets = None
        if last <= now:  # the clock is not behind: the head's sets can be worked on in place
            newest = "\x00".join(members[:_HEAD]).encode("utf-8", "surrogatepass")
            given = newest.replace(b"\x00", _KIND_SEP)  # as the head's newest members are kept (a NUL in a member
            # makes it longer: never equal)
            if now < horizon and record.startswith(given, names_at) and record[names_at + len(given)] == 0xFD:
                # the head's members as last time, its counts standing: only the tail is worked on
                sets = self._account_tail(record, members, now, tail, at, None)
            elif newest.count(b"\x00") == _HEAD - 1:  # some head member changed (unambiguous), or a head count may
                # have: those are worked out again
                sets = self._account_tail(record, members, now, tail, at, _account_head(
                    record, now, at, record.index(_PART_SEP, names_at), newest.split(b"\x00"), horizon, last))
        if sets is None:
            sets = _account_sets(record, members, now, tail, at, last if last > now else now)
        tail, tail_olds, tail_names, kept_part, counts = sets
        if last <= now - RECENT_TTL:  # idle: times and location are dropped
            times, loc, times_end = [], None, times_at
        else:
            times = list(_DOUBLES[nt].unpack_from(record, times_at))
            loc = record[loc_at:tail_names_at].decode("utf-8", "surrogatepass") if flags & _HAS_LOC_A else None
            times_end = times_at + 8 * TIMES_MAX - 8 if nt == TIMES_MAX else hours_at
        hour_now = floor(now / HOUR)
        hourly, nh, hours = _active(record[hours_at:loc_at], nh, hour_now, floor(now / SLOT_S))
        if hour_now == hour:
            hour_n += 1
        else:
            hour, hour_n, hour_prev = hour_now, 1, hour_n if hour_now == hour + 1 else 0
        day_now = floor(now / DAY)
        if day_now == day:
            day_n += 1
        else:
            day, day_n, day_prev = day_now, 1, day_n if day_now == day + 1 else 0
        raw_loc = op.loc.encode("utf-8", "surrogatepass")
        data[key] = b"".join((
            _AC_HOT.pack(_ACCOUNT, expires if expires > now + RECENT_TTL else now + RECENT_TTL,
                         last if last > now else now, hour, hour_n, hour_prev, day, day_n, day_prev,
                         (times_end - times_at >> 3) + 1, nh, len(raw_loc), flags | _HAS_LOC_A, len(tail_names)),
            _AC_TAIL.pack(*tail), tail_olds, _pack_d(now), record[times_at:times_end], hourly, raw_loc, tail_names,
            kept_part))
        if new:
            self._added()
        return _new(AccountSeen, (counts, times, hours, hour_n, hour_prev, day_n, day_prev, loc,
                                  _split(record[sticky_at + nst : names_at]) if npe else [],
                                  record[sticky_at : sticky_at + nst].decode("utf-8", "surrogatepass")
                                  if flags & _HAS_STICKY_A and now < until else None))

    def _account_fresh(self, key: str, op: Account, newest: str, now: float, absent: bool) -> AccountSeen:
        """A fresh account: each member alone in its kind's set (``newest``: the head's, joined by NUL)."""
        members = op.members
        ns = [1 if m else 0 for m in members]
        counts = [ns[k] for k in _WINDOW_KINDS]
        name = self._name
        target, burst, crowd = members[_HEAD:]
        tail_names = b"".join((name(target) if target else _EMPTY_SET, _KIND_SEP, name(burst) if burst else _EMPTY_SET,
                               _KIND_SEP, name(crowd) if crowd else _EMPTY_SET))
        hour = floor(now / HOUR)
        raw_loc = op.loc.encode("utf-8", "surrogatepass")
        self._data[key] = b"".join((
            _AC_HOT.pack(_ACCOUNT, now + RECENT_TTL, now, hour, 1, 0, floor(now / DAY), 1, 0, 1, 1, len(raw_loc),
                         _HAS_LOC_A, len(tail_names)),
            _AC_TAIL.pack(ns[_HEAD], now if target else 0.0, ns[_HEAD + 1], now if burst else 0.0, ns[_HEAD + 2],
                          now if crowd else 0.0),
            _pack_d(now), _I.pack(hour), _I.pack(floor(now / SLOT_S)), b"\x01", raw_loc, tail_names,
            _AC_COLD.pack(inf, 0.0, 0, 0, 0), bytes(ns[:_HEAD]), bytes(counts[:_N_HEAD_COUNTS]),
            _utf8(newest).replace(b"\x00", _KIND_SEP), _PART_SEP, _FRESH_HEAD_OLDS))
        if absent:
            self._added()
        return _new(AccountSeen, (counts, [], [1], 1, 0, 1, 0, None, [], None))

    def _account_tail(self, record: bytes, members, now: float, tail: tuple, at: tuple,
                      head: tuple | None) -> tuple:
        """The tail's sets seen and counted. The head's are as they were (their newest stamps ``last``, as the
        op's will be) or ``head``, ``_account_head``'s kept part and counts."""
        n, top, nb, b_top, nc, c_top = tail
        olds_at, olds_end, names_at, kept = at[:4]
        bursts_at = olds_at + (8 * n - 8 if n else 0)
        crowds_at = bursts_at + (8 * nb - 8 if nb else 0)
        target, burst, crowd = members[_HEAD:]
        olds, b_olds, c_olds = record[olds_at:bursts_at], record[bursts_at:crowds_at], record[crowds_at:olds_end]
        if target or burst or crowd:
            targets, bursts, crowds = record[names_at:kept].split(_KIND_SEP)
            if target:
                olds, targets, n, top = _see(olds, targets, n, top, self._name(target), now, ACCOUNT_CAP)
            if burst:
                b_olds, bursts, nb, b_top = _see(b_olds, bursts, nb, b_top, self._name(burst), now, ACCOUNT_CAP)
            if crowd:
                c_olds, crowds, nc, c_top = _see(c_olds, crowds, nc, c_top, self._name(crowd), now, ACCOUNT_CAP)
            tail_olds = b"".join((olds, b_olds, c_olds))
            tail_names = b"".join((targets, _KIND_SEP, bursts, _KIND_SEP, crowds))
        else:
            tail_olds, tail_names = record[olds_at:olds_end], record[names_at:kept]
        if head is None:
            kept_part, counts = record[kept:], list(record[kept + _COUNTS : kept + _STAMPS])
        else:
            kept_part, counts = head
        counts += (_over(olds, n, top, now - _T1H), _over(olds, n, top, now - _T24), _over(b_olds, nb, b_top, now - _B1H),
                   _over(c_olds, nc, c_top, now - _C24))
        return (n, top, nb, b_top, nc, c_top), tail_olds, tail_names, kept_part, counts

    def _account_edit(self, key: str, now: float, expires: float, edit) -> None:
        """Mark, Peers and Stick: ``edit(hot, tail, cold, parts)`` changes the headers (lists) and the body's
        parts (tail stamps, times, hour entries, loc, tail names; head sizes and counts, head stamps, sticky,
        peers, head names)."""
        record = self._data.pop(key, None)
        absent = record is None
        if absent or record[0] != _ACCOUNT or _EXPIRES.unpack_from(record, 1)[0] <= now:
            record = _FRESH_ACCOUNT
        hot = list(_AC_HOT.unpack_from(record))
        tail = list(_AC_TAIL.unpack_from(record, _TAIL_AT))
        parts = []
        at = _OLDS_AT
        for size in (8 * sum(n - 1 for n in tail[::2] if n), 8 * hot[9], 9 * hot[10], hot[11], hot[13]):
            parts.append(record[at : at + size])
            at += size
        cold = list(_AC_COLD.unpack_from(record, at))
        at += _NS
        for size in (_STAMPS - _NS, 8 * cold[4], cold[2], cold[3]):
            parts.append(record[at : at + size])
            at += size
        parts.append(record[at:])
        edit(hot, tail, cold, parts)
        hot[1] = _later(hot[1], expires)
        hot[13] = len(parts[4])
        self._data[key] = b"".join((_AC_HOT.pack(*hot), _AC_TAIL.pack(*tail), *parts[:5], _AC_COLD.pack(*cold),
                                    *parts[5:]))
        if absent:
            self._added()

    def _mark(self, op: Mark, now: float) -> None:
        i = _MARKED.get(op.kind)
        if i is None:
            raise ValueError(f"Mark into {op.kind!r}: the kinds are {', '.join(_MARKED)}")
        name = self._name(op.target)

        def edit(hot: list, tail: list, cold: list, parts: list) -> None:
            olds = []
            at = 0
            for n in tail[::2]:
                size = 8 * n - 8 if n else 0
                olds.append(parts[0][at : at + size])
                at += size
            blocks = parts[4].split(_KIND_SEP)
            olds[i], blocks[i], tail[2 * i], tail[2 * i + 1] = _see(olds[i], blocks[i], tail[2 * i], tail[2 * i + 1],
                                                                    name, now, ACCOUNT_CAP)
            parts[0] = b"".join(olds)
            parts[4] = _KIND_SEP.join(blocks)

        self._account_edit(op.key, now, now + RECENT_TTL, edit)

    def _peers(self, op: Peers, now: float) -> None:
        peers = _joined(op.peers[-PEERS_MAX:])

        def edit(hot: list, tail: list, cold: list, parts: list) -> None:
            parts[8] = peers
            cold[3] = len(peers)

        self._account_edit(op.key, now, now + RECENT_TTL, edit)

    def _account_stick(self, key: str, sticky: bytes, until: float, now: float) -> None:
        def edit(hot: list, tail: list, cold: list, parts: list) -> None:
            parts[7] = sticky
            hot[12] |= _HAS_STICKY_A
            cold[1], cold[2] = until, len(sticky)

        self._account_edit(key, now, until, edit)

    # -- targets and crowds ------------------------------------------------------

    def _target(self, op: Target, now: float) -> list[str]:
        key = op.key
        data = self._data
        record = data.pop(key, None)
        absent = record is None
        lists = self._lists
        cached = lists.pop(key, None)
        if absent or record[0] != _TARGET or _EXPIRES.unpack_from(record, 1)[0] <= now:
            previous = []
            record = bytearray(_TA.pack(_TARGET, now + TARGET_TTL))
        else:
            if cached is not None and cached[0] is record:  # its records were in the list
                previous = cached[1]
            else:
                previous = _split(record[_TA_SIZE:])
            _EXPIRES.pack_into(record, 1, now + TARGET_TTL)
        data[key] = record
        records = previous[: TARGET_MAX - 1]
        records.insert(0, op.record)
        if len(records) < _LIST_FROM:  # a quiet target: its records stay in its record
            record[_TA_SIZE:] = _joined(records)
        else:  # a busy one: they move to the list (the most recently used last), written back when it leaves
            del record[_TA_SIZE:]
            lists[key] = (record, records)
            if len(lists) > _LISTS_MAX:
                record, records = lists.pop(next(iter(lists)))
                record[_TA_SIZE:] = _joined(records)
        if absent:
            self._added()
        return previous

    def _crowd(self, op: Crowd, now: float) -> list[str] | None:
        key = op.key
        data = self._data
        record = data.pop(key, None)
        name = self._names.get(op.member) or self._name(op.member)
        expires = 0.0
        if record is not None and record[0] == _CROWD:
            _, expires, n, top = _CR.unpack_from(record)
        if expires <= now:
            data[key] = _CR.pack(_CROWD, _later(0.0, now + CROWD_WINDOW), 1, now) + name
            if record is None:
                self._added()
            return []
        at = _CR_SIZE + 8 * n - 8 if n else _CR_SIZE  # the names
        cut = now - CROWD_WINDOW
        if not n or top <= cut:
            seen = 0
        elif n == 1 or _unpack_d(record, _CR_SIZE)[0] > cut:
            seen = n
        else:
            seen = n - bisect_right(_stamps(record, _CR_SIZE, n - 1), cut)
        if seen >= CROWD_CAP:
            answer = None
        elif seen:
            answer = [raw.decode("utf-8", "surrogatepass") for raw in record[at:].split(b"\xff")[n - seen + 1 : n + 1]]
        else:
            answer = []
        olds, names, n, top = _see_in(record, _CR_SIZE, at, at, len(record), n, top, name, now, CROWD_CAP)
        data[key] = b"".join((_CR.pack(_CROWD, expires if expires > now + CROWD_WINDOW else now + CROWD_WINDOW, n, top),
                              *olds, *names))
        return answer

    # -- sticky decisions --------------------------------------------------------

    def _stick(self, op: Stick, now: float) -> None:
        kind = stick_kind(op.key)
        sticky = _utf8(op.decision)
        if kind == "session":
            self._session_stick(op.key, sticky, op.until, now)
        elif kind == "account":
            self._account_stick(op.key, sticky, op.until, now)
        else:
            self._shared_stick(op.key, sticky, op.until, now)


# -- an account's sets in full (the general path) ----------------------------------------


def _account_head(record: bytes, now: float, at: tuple, head_olds_at: int, given: list[bytes], horizon: float,
                  last: float) -> tuple[bytes, list[int]]:
    """The head kinds whose member is not as last time are seen (or, unseen, keep their newest stamp) and counted
    again; all are when the horizon passed. The new kept part and head counts."""
    kept, sticky_at, names_at = at[3:]
    newest = record[names_at:head_olds_at].split(_KIND_SEP)
    blocks = record[head_olds_at + 1 :].split(_KIND_SEP)
    ns = list(record[kept + _NS : kept + _COUNTS])
    counts = list(record[kept + _COUNTS : kept + _STAMPS])
    olds = []
    start = kept + _STAMPS
    for k, n in enumerate(ns):
        end = start + 8 * n - 8 if newest[k] else start + 8 * n
        olds.append(record[start:end])
        start = end
    recount = now >= horizon
    if recount:
        horizon = inf
    i = 0  # the kind's first count
    for k, windows in enumerate(ACCOUNT_WINDOWS[:_HEAD]):
        member, top = given[k], newest[k]
        changed = member != top
        n, kind_olds = ns[k], olds[k]
        if changed:
            if member:  # seen: its newest (stamped ``last``, or kept) goes among the others
                names = blocks[k]
                if top:
                    names += top + b"\xff"
                    stamp = last
                elif n:
                    stamp = _unpack_d(kind_olds, 8 * n - 8)[0]
                    kind_olds = kind_olds[:-8]
                else:
                    stamp = 0.0
                kind_olds, names, n, _ = _see(kind_olds, names, n, stamp, b"\xff" + member + b"\xff", now, ACCOUNT_CAP)
                cut = names.rindex(b"\xff", 0, len(names) - 1)
                blocks[k], newest[k] = names[: cut + 1], names[cut + 1 : -1]
            else:  # not seen this time: its newest keeps its stamp, ``last``
                blocks[k] += top + b"\xff"
                newest[k] = b""
                kind_olds += _pack_d(last)
            olds[k], ns[k] = kind_olds, n
        if changed or recount:
            seen = bool(newest[k])  # its newest stamped now, which counts in every window
            for w in windows:
                cut = now - w
                c = counts[i] = _over(kind_olds, n, now, cut) if seen else _over_all(kind_olds, n, cut)
                if c > seen:  # the oldest it counts can leave the window first
                    horizon = _earlier(horizon, _unpack_d(kind_olds, 8 * (n - c))[0] + w - _HORIZON_MARGIN)
                i += 1
        else:
            i += len(windows)
    head_stamps = b"".join(olds)
    _, until, nst, npe, _ = _AC_COLD.unpack_from(record, kept)
    return b"".join((_AC_COLD.pack(horizon, until, nst, npe, len(head_stamps) >> 3), bytes(ns), bytes(counts),
                     head_stamps, record[sticky_at:names_at], _KIND_SEP.join(newest), _PART_SEP,
                     _KIND_SEP.join(blocks))), counts


def _account_sets(record: bytes, members, now: float, tail: tuple, at: tuple, last: float) -> tuple:
    """An Account op's general path: every set seen and counted in full, and the horizon of the head's counts."""
    stamps, names = _account_unpack(record, tail, at)
    for k, member in enumerate(members):
        if member:
            _see_list(stamps[k], names[k], _utf8(member), now)
    counts = [len(s) - bisect_right(s, now - w) for s, windows in zip(stamps, ACCOUNT_WINDOWS, strict=True)
              for w in windows]
    horizon = inf
    head_stamps, newest, blocks = [], [], []
    i = 0
    for k, windows in enumerate(ACCOUNT_WINDOWS[:_HEAD]):
        s, kind_names = stamps[k], names[k]
        seen = bool(members[k]) and s[-1] == last  # its newest stamp need not be kept
        for w in windows:
            c = counts[i]
            if c > seen:  # the oldest it counts can leave the window first
                horizon = _earlier(horizon, s[len(s) - c] + w - _HORIZON_MARGIN)
            i += 1
        if seen:
            head_stamps += s[:-1]
            newest.append(kind_names[-1])
            blocks.append(_block(kind_names[:-1]))
        else:
            head_stamps += s
            newest.append(b"")
            blocks.append(_block(kind_names))
    tail_olds, tail = [], []
    for s in stamps[_HEAD:]:
        tail_olds += s[:-1]
        tail += (len(s), s[-1]) if s else (0, 0.0)
    kept, sticky_at, names_at = at[3:]
    _, until, nst, npe, _ = _AC_COLD.unpack_from(record, kept)
    kept_part = b"".join((_AC_COLD.pack(horizon, until, nst, npe, len(head_stamps)),
                          bytes(len(s) for s in stamps[:_HEAD]), bytes(counts[:_N_HEAD_COUNTS]),
                          array("d", head_stamps).tobytes(), record[sticky_at:names_at], _KIND_SEP.join(newest),
                          _PART_SEP, _KIND_SEP.join(blocks)))
    return (tail, array("d", tail_olds).tobytes(), _KIND_SEP.join(_block(n) for n in names[_HEAD:]), kept_part,
            counts)


def _account_unpack(record: bytes, tail: tuple, at: tuple) -> tuple:
    """Every kind's stamps and names (UTF-8), oldest first."""
    olds_at, olds_end, tail_names_at, kept, sticky_at, names_at = at
    last = _AC_HOT.unpack_from(record)[2]
    head_flat = memoryview(record)[kept + _STAMPS : sticky_at].cast("d").tolist()
    tail_flat = memoryview(record)[olds_at:olds_end].cast("d").tolist()
    head_tops, head_olds = record[names_at:].split(_PART_SEP)
    head_tops, head_olds = head_tops.split(_KIND_SEP), head_olds.split(_KIND_SEP)
    tail_names = record[tail_names_at:kept].split(_KIND_SEP)
    stamps, names = [], []
    start = 0
    for k, n in enumerate(record[kept + _NS : kept + _COUNTS]):
        kind_names = head_olds[k].split(b"\xff")[1:-1]
        top = head_tops[k]
        end = start + n - 1 if top else start + n
        kind_stamps = head_flat[start:end]
        start = end
        if top:
            kind_names.append(top)
            kind_stamps.append(last)
        stamps.append(kind_stamps)
        names.append(kind_names)
    start = 0
    for i in range(_N_TAIL):
        n = tail[2 * i]
        end = start + n - 1 if n else start
        kind_stamps = tail_flat[start:end]
        start = end
        if n:
            kind_stamps.append(tail[2 * i + 1])
        stamps.append(kind_stamps)
        names.append(tail_names[i].split(b"\xff")[1:-1])
    return stamps, names


def _block(names: list[bytes]) -> bytes:
    return b"\xff" + b"\xff".join(names) + b"\xff" if names else b"\xff"


def _see_list(stamps: list[float], names: list[bytes], name: bytes, now: float) -> None:
    """``_see`` on a set unpacked into lists."""
    if stamps and stamps[-1] > now:
        now = stamps[-1]
    if names and names[-1] == name:
        stamps[-1] = now
        return
    try:
        i = names.index(name)
    except ValueError:
        if len(names) >= ACCOUNT_CAP:
            del names[0], stamps[0]
    else:
        del names[i], stamps[i]
    names.append(name)
    stamps.append(now)
