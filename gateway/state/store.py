"""The state store contract: one batched, async call per request, one op per entity.

A protected request reads and updates a handful of *entities*: its session,
its account, the address, /24 or /64, ASN (within its network class), device
and TLS-plus-user-agent pair it came from, and the target it acts on (its
recent actions, and the day's crowd of sessions on it). Each op
below reads and updates ONE entity; a request's ops travel together in ONE
``exchange`` call, so the Redis backend does the whole request in one round
trip (one script; on a Redis Cluster one per node the request's entities live
on, all at once) and the memory backend in one pass. Every entity is one
record under one key (``"<kind>:<id>"``, e.g. ``"ip:203.0.113.7"``); the Redis
backend stores it under ``<prefix>:{<key>}``, so an entity never spans Redis
Cluster slots.

Keys: an entity's kind follows from its key's prefix: ``s:`` a session,
``a:`` an account, ``t:`` a target, ``c:`` a target's crowd, any other a shared entity (``ip:``,
``pfx:``, ``asn:``, ``dev:``, ``tu:``). ``Stick`` relies on it to create the
right record for an absent entity.

Both backends implement these semantics exactly and are driven by the same
conformance tests. Time is the ``now`` given to ``exchange`` (the engine's
clock, virtual in replay), never wall time.

Recency sets
    Sessions, accounts and the account's networks, devices, clients and
    targets are kept as *recency sets*: member -> last-seen time, in the order
    they were last seen. Seeing a member stores ``max(now, newest time in the
    set)`` (so the order is also time order even when replicas' clocks
    disagree by a little) and moves it to the newest end. Past a set's cap the
    least recently seen member (the one at the oldest end) is dropped: counts
    saturate at the cap, a documented one-sided error. A count "over window w" is the number of
    members last seen after ``now - w``, this request's included.

``Birth(key, record)``
    The token endpoint: store ``record`` as the session's birth unless it has
    one. Result: None.

``Session(key, birth, loc, place, lane, fixed)``
    A protected request on the session. Result
    ``(birth, times, loc, sticky, moves, switches)``: the birth before this op (None if none;
    then ``birth``, unless empty, is stored as a first-use birth), the session's earlier
    action times newest first (at most ``TIMES_MAX``), the location record of
    its previous use, and its live sticky decision (None if none). Then ``now``
    is pushed onto the times and ``loc`` replaces the location. When the
    previous Session op on the key was ``RECENT_TTL`` or more before ``now``,
    times and location are cleared first (the birth stays). The record lives
    ``SESSION_TTL`` after its last touch.

    ``moves`` counts the session's kept *moves* whose time is after ``now -
    DAY``, this op's included (the newest ``MOVES_MAX`` are kept): an op is a move when it is
    ``fixed``, the session's previous Session op was ``fixed`` too, with the
    same ``lane`` and another ``place``, and ``now - last < MOVE_GAP`` (``last``
    as below, before this op). The engine passes the prefix as ``place``, the
    device as ``lane`` and "on a residential line" as ``fixed``: a session
    hopping between home lines within minutes is a proxy pool's rotation.

    ``switches`` counts the session's kept *switches* likewise (after ``now -
    DAY``, this op's included, the newest ``MOVES_MAX`` kept): an op is a
    switch when its ``lane`` and the previous Session op's are both non-empty
    and differ. A token used by two devices in turn switches at every turn.

``Shared(key, account, session)``
    An address, prefix, ASN, device or TLS+UA pair. Sees ``account`` in the
    accounts set (windows ``SHARED_ACCOUNT_WINDOWS``) and ``session`` in the
    sessions set (window ``SHARED_SESSION_WINDOW``), each capped at
    ``SHARED_CAP``. Result ``(accounts_10m, accounts_1h, accounts_24h,
    sessions_1h, sticky)``. Lives ``RECENT_TTL`` after its last touch.

``Account(key, members, loc)``
    ``members`` has one entry per ``ACCOUNT_KINDS`` item (``""`` = none this
    time), each seen in that kind's recency set (cap ``ACCOUNT_CAP`` per kind).
    Result ``(counts, times, hours, hour_n, hour_prev, day_n, day_prev, loc,
    peers, sticky)``:

    - ``counts``: for each kind in order, for each of its windows in
      ``ACCOUNT_WINDOWS``, the members seen over that window (flat, 13 ints);
    - ``times``: earlier action times, newest first (as for a session);
    - ``hours``: the account's activity over the last ``HOURS`` clock hours:
      for each clock hour ``floor(t / 3600)`` in ``(H - HOURS, H]`` with
      actions (``H`` = this request's), the number of distinct ``SLOT_S``
      slots ``floor(t / SLOT_S)`` it had actions in, oldest hour first, this
      request included. Slots are counted as they arrive: an action in the
      same clock hour as the newest entry counts its slot when it is after
      that entry's last counted slot; an action in any other clock hour (one
      arriving out of order, too) starts a new entry. Entries of hours at or
      before ``H - HOURS`` are dropped, and past ``HOURS`` entries (hours out
      of order) the earliest added;
    - ``hour_n``/``day_n``: actions in the current clock hour / day (buckets
      ``floor(now / 3600)`` / ``floor(now / 86400)``, this one included);
      ``hour_prev``/``day_prev``: in the bucket just before (0 if idle then);
    - ``loc`` and ``sticky`` as for a session (times and location cleared
      after ``RECENT_TTL`` without an Account op, as for a session);
    - ``peers``: the members last given by ``Peers`` (a list, ``[]`` if none).

    Lives ``RECENT_TTL`` after its last touch.

``Target(key, record)``
    Result: the target's earlier action records, newest first (at most
    ``TARGET_MAX``); then ``record`` is pushed. The list is dropped when the
    target was idle for ``TARGET_TTL``.

``Crowd(key, member)``
    A target's crowd: the sessions that acted on it over the last day. Result:
    the members seen after ``now - CROWD_WINDOW``, least recent first (a
    list of str), or None when they are ``CROWD_CAP`` (the crowd is full: a
    popular target, whose members say nothing); then ``member`` is seen (a
    recency set capped at ``CROWD_CAP``). Lives ``CROWD_WINDOW`` after its
    last touch.

``Mark(key, target, kind="burst")``
    Sees ``target`` in the account's ``kind`` set (``MARK_KINDS``): ``burst``
    (it was found in a burst) or ``crowd`` (the account met its known crowd
    there); ValueError for another kind. Result: None.

``Peers(key, peers)``
    Replaces the account's peers (the sessions it met on its recent small
    targets) with the last ``PEERS_MAX`` of ``peers``. Result: None.

``Stick(key, decision, until)``
    Pins a sticky decision (``"<decision>|<rule id>|<until>"``) on an entity
    (created empty if absent) until ``until``; the entity lives at least that
    long. Result: None. Session, Shared and Account ops return it while
    ``now < until``.

An op on a key holding another kind of record sees it as absent and replaces
it. Every record is bounded: sets by their caps, lists by their maxima.

Exact rules (where the text above leaves room; both backends follow them)
    - Life: a record is absent once ``expiry <= now``. Each op on a record
      sets ``expiry = max(expiry, now + ttl)``: ``SESSION_TTL`` for Birth and
      Session, ``RECENT_TTL`` for Shared, Account, Mark and Peers,
      ``CROWD_WINDOW`` for Crowd, ``until`` for Stick; Target sets ``expiry =
      now + TARGET_TTL``. An absent record is
      created empty; a record of another kind is absent (its sticky decision
      with it). A record whose expiry has passed may be dropped at any time
      (a sweep, an eviction, Redis's own expiry), so after a clock went back
      whether it is seen again is unspecified.
    - Windows: a member counts over window ``w`` when its stored time ``t``
      has ``t > now - w`` (the subtraction in doubles); there is no upper
      bound (a member clamped past ``now`` counts).
    - Clamp: every recency set clamps on its own newest time (Shared's two
      sets, each of an account's kinds, a crowd).
    - Members: in ``Account.members`` ``""`` sees nothing (the counts are
      still read); Shared, Crowd and Mark see their members as given.
    - Order: each member is seen (and its set trimmed to its cap) in order,
      then the counts are read. Members outside every window may be kept or
      dropped: they count nowhere, and as the least recent they are the first
      dropped past the cap either way.
    - Times and location: ``last`` is the greatest ``now`` of the record's
      Session (for an account: Account) ops; such an op first clears times and
      location when ``last <= now - RECENT_TTL`` (a fresh record has none),
      then sets ``last = max(last, now)``. Times are returned and stored
      exactly (the given doubles, bit for bit).
    - Buckets: an Account op whose hour bucket equals the stored one adds 1 to
      it; any other bucket (later or earlier) starts at 1, with ``hour_prev``
      the stored count when the stored bucket is the one just before, else 0.
      Days likewise. A fresh account has bucket 0 with count 0.
    - Stick replaces the entity's sticky decision whatever its ``until``. It
      names a session, account or shared entity, never a target or a crowd.
    - Result types: Session ``SessionSeen``; Shared ``SharedSeen``; Account
      ``AccountSeen`` (typed records below); Target ``list[str]``; Crowd
      ``list[str] | None``; Birth, Mark, Peers, Stick ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from gateway.state.keys import ACCOUNT_PREFIX, CROWD_PREFIX, SESSION_PREFIX, TARGET_PREFIX

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

SESSION_TTL = 30 * DAY  # a session's birth is remembered this long after its last use
RECENT_TTL = DAY  # times, locations and sets of an entity idle this long are dropped
TIMES_MAX = 32  # action times kept per session and per account
MOVE_GAP = 1800.0  # a place change within this long counts as a move
MOVES_MAX = 16

SHARED_ACCOUNT_WINDOWS = (600.0, HOUR, DAY)
SHARED_SESSION_WINDOW = HOUR
SHARED_CAP = 128  # distinct accounts / sessions kept per shared entity (rules compare with <= 50)

LIVE = 900.0  # an account's sessions, prefixes and classes count as live this long after their last action
ACCOUNT_KINDS = ("ip", "prefix", "session", "class", "asn", "country", "device", "client", "target", "burst",
                 "crowd")
ACCOUNT_WINDOWS: tuple[tuple[float, ...], ...] = (
    (DAY,),  # ip
    (LIVE, DAY),  # prefix: live and day
    (LIVE,),  # session: live
    (LIVE,),  # class: live
    (DAY,),  # asn
    (DAY,),  # country
    (DAY,),  # device
    (DAY,),  # client
    (HOUR, DAY),  # target
    (HOUR,),  # burst
    (DAY,),  # crowd
)
ACCOUNT_CAP = 64  # members kept per kind and account
SLOT_S = 600.0  # activity is counted in 10-minute slots
HOURS = 24  # clock hours of activity kept per account


TARGET_TTL = 300.0
TARGET_MAX = 32
CROWD_WINDOW = DAY
CROWD_CAP = 64  # sessions kept per crowd: a fuller crowd is a popular target, not a pool's
PEERS_MAX = 128
MARK_KINDS = ("burst", "crowd")  # the account sets a Mark sees into


def stick_kind(key: str) -> str:
    """The record a Stick on ``key`` pins to: ``session``, ``account`` or ``shared`` (by the key's prefix).

    ValueError for a target or a crowd: a sticky decision never names one.
    """
    if key.startswith(SESSION_PREFIX):
        return "session"
    if key.startswith(ACCOUNT_PREFIX):
        return "account"
    if key.startswith(TARGET_PREFIX) or key.startswith(CROWD_PREFIX):
        raise ValueError(f"Stick on {key!r}: a sticky decision names a session, account or shared entity, "
                         "never a target or a crowd")
    return "shared"


@dataclass(slots=True)
class Birth:
    key: str
    record: str


@dataclass(slots=True)
class Session:
    key: str
    birth: str
    loc: str
    place: str = ""
    lane: str = ""
    fixed: bool = False


@dataclass(slots=True)
class Shared:
    key: str
    account: str
    session: str


@dataclass(slots=True)
class Account:
    key: str
    members: tuple[str, ...]
    loc: str


@dataclass(slots=True)
class Target:
    key: str
    record: str


@dataclass(slots=True)
class Crowd:
    key: str
    member: str


@dataclass(slots=True)
class Mark:
    key: str
    target: str
    kind: str = "burst"


@dataclass(slots=True)
class Peers:
    key: str
    peers: tuple[str, ...]


@dataclass(slots=True)
class Stick:
    key: str
    decision: str
    until: float


Op = Birth | Session | Shared | Account | Target | Crowd | Mark | Peers | Stick


class SessionSeen(NamedTuple):
    """A Session op's answer."""

    birth: str | None  # the birth record before this op
    times: list[float]  # earlier action times, newest first
    loc: str | None  # the previous use's location record
    sticky: str | None  # the live sticky decision (gateway.state.keys.Pin)
    moves: int
    switches: int


class SharedSeen(NamedTuple):
    """A Shared op's answer: distinct accounts and sessions over their windows."""

    accounts_10m: int
    accounts_1h: int
    accounts_24h: int
    sessions_1h: int
    sticky: str | None


class AccountSeen(NamedTuple):
    """An Account op's answer."""

    counts: list[int]  # per ACCOUNT_KINDS kind, per its ACCOUNT_WINDOWS window (flat)
    times: list[float]
    hours: list[int]
    hour_n: int
    hour_prev: int
    day_n: int
    day_prev: int
    loc: str | None
    peers: list[str]
    sticky: str | None


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
