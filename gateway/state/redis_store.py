"""The shared state store on Redis: one round trip per exchange, degrade on failure.

Every op of an ``exchange`` runs inside ONE call of a Lua function, so a
protected request costs exactly one network round trip (``round_trips``
counts them; on a Redis Cluster, one per node it touches: below). The
function is a library (``FUNCTION LOAD``, Redis 7) named after a digest of
its text, so replicas of different versions never run each other's, and its
helpers are built once at load rather than on every call (about 12 us of the
server's time a request). The first exchange on a server
loads it (one round trip more), and so does the first after the server lost
it (a restart without persistence, ``FUNCTION FLUSH``: two more). Where a
server refuses to load it (before Redis 7, or a user not allowed ``FUNCTION``)
the same code runs as a script, ``EVALSHA``, sending its text once.

Layout: each entity is ONE string key ``<prefix>:{<entity key>}`` (the hash
tag is the whole entity key) holding one compact record, with a real ``PX``
of the record's remaining life on the op clock plus a minute, so Redis drops
it by itself. Every record is one raw string: a kind tag, a packed head,
then sections (packed doubles, fixed-width digests, texts) the head gives the
lengths of; no record is a msgpack or JSON value, so an op packs and unpacks
nothing but a few fixed heads. Inside the script one ``MGET`` reads every key
of the exchange, the ops run in order, and each touched key costs one ``SET``
at the end (a busy shared entity: a few ``SETRANGE`` and a ``PEXPIRE``,
below). The script is built for Redis 7's Lua, where every string made costs
about a nanosecond per byte (Lua hashes each byte): a recency set is two
strings (fixed-width member digests, packed times) worked on with C string
functions, never one Lua value per member, and a list of texts (a target's
records, a crowd, an account's peers) is one string that the script splices
and hands back whole, split in Python.

Semantics are those of ``gateway.state.store`` exactly, and identical to
``gateway.state.memory`` (the conformance tests drive both): expiries and
windows are judged on the ``now`` given to ``exchange``, never on Redis's
clock, with the same double arithmetic (``now`` crosses the wire as Python's
exact shortest ``repr``; the script's constants are formatted from
``gateway.state.store``). The reply is one string of packed answers:
action times come back as packed little-endian doubles, so they round-trip
bit for bit, and texts verbatim (see ``decode``).
One documented difference: a recency set keeps its members as the first bits
of their SHA-1 (96 in an account's sets, 64 in a shared entity's), so two
distinct members of one set would count once if their digests collided (odds
about 1e-25 for a full account set of 64, 1e-15 for a full shared one of 128).
A crowd, whose members are answered back, keeps them verbatim.

A busy shared entity (a carrier address, prefix or app version, whose two
sets sit at their caps) is not rewritten whole on each op: its sets are rings
of fixed-width slots, a member seen again moves the shorter side of its ring by
one slot, a new member past the cap takes the oldest's slot, and the script
writes only the slots that changed (``SETRANGE``). Redis's own expiry of a
shared record covers an hour more than its life and the record notes up to
when, so an entity edited in place sets it again (``PEXPIRE``) about once an
hour, not on every request.

A record whose kind tag is not the op's (another kind, a value this module
did not write) reads as absent and is replaced, as in the memory backend. A
record of the layouts before this one (msgpack arrays tagged ``S2``, ``A4``,
``T1``, ``C1``, shared records ``H4`` and ``H5`` (96-bit digests) and sessions
``S3``, without device switches; met after an upgrade) is converted when read,
so every entity keeps its history across the upgrade.

URLs: ``redis://``, ``rediss://`` (TLS; certificate options as URL query
parameters, e.g. ``?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem``) and
``unix://``; options such as ``db``, ``username`` and ``password`` as
redis-py's ``from_url`` reads them.

Redis Cluster (``state.cluster``, Redis 7.0 or later; ``state.url`` names any
one node, with the same TLS and credentials for all): the first exchange
reads the slot map (``CLUSTER SLOTS``). A script call may declare keys of one
slot only, and the script touches no key it was not given, so an exchange
becomes one call per slot its entities live in; each node gets its calls in
one write (one round trip), all nodes at once (results are unchanged: ops on
different entities never interact). A call the cluster redirects was refused
before it ran, so it is sent again where it is told: ``MOVED`` to the slot's
new owner (noted, and the whole map read again beside the requests), ``ASK``
to the node a migrating slot's keys are moving to (after ``ASKING``), and a
``TRYAGAIN`` (some of a call's keys moved, some not yet) as one call per key.
An exchange still redirected after ``_REDIRECTS_MAX`` rounds, a
``CLUSTERDOWN``, or a node that stops answering fails that exchange (degraded,
as any failure) and re-reads the slot map in the background.

Failure is first-class: no retries, a connect timeout of
``state.timeout_ms``, the whole exchange bounded by the same timeout, and a
circuit breaker (``state.breaker_failures`` consecutive failures open it for
``state.breaker_reset_s``, then one request probes). While Redis fails or the
breaker is open, the local fallback ``MemoryStore`` answers and the result is
marked ``degraded``; nothing is raised to the caller, and with the breaker
open no network call is made at all. A connection that failed or was
cancelled mid-command is dropped and reopened on its next use.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import struct
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import redis.asyncio as aioredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    InvalidResponse,
    MovedError,
    NoPermissionError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.settings import State, redis_state_problem
from gateway.state import store as contract
from gateway.state.breaker import CLOSED, CircuitBreaker
from gateway.state.memory import MemoryStore
from gateway.state.store import (
    ACCOUNT_KINDS,
    ACCOUNT_WINDOWS,
    HOURS,
    MARK_KINDS,
    PEERS_MAX,
    TIMES_MAX,
    Account,
    BatchResult,
    Birth,
    Crowd,
    Mark,
    Op,
    Peers,
    Session,
    Shared,
    Stick,
    Target,
    stick_kind,
)

log = logging.getLogger("gateway.state")

_REAL_EXPIRY_MARGIN_MS = 60_000  # Redis's own expiry: a bound, judged on its clock
_REAL_EXPIRY_MAX_MS = 10 * 365 * 86_400_000  # a record pinned "forever" still leaves Redis after ten years
_DIGEST_BYTES = 12  # an account's set member is kept as the first 96 bits of its SHA-1
_SHARED_DIGEST_BYTES = 8  # a shared entity's, as its first 64 bits: its records are the biggest read
# A shared record's own expiry in Redis covers this much more than its life, so a busy entity's
# in-place edit sets it (PEXPIRE) about once an hour rather than on every request
_REAL_EXPIRY_SLACK_S = 3600.0
# A shared record at least this long is edited in place (a few SETRANGE calls, each costing about as much as
# rewriting a kilobyte in Lua) rather than rewritten whole
_IN_PLACE_BYTES = 1024
_N_KINDS = len(ACCOUNT_KINDS)
_N_COUNTS = sum(len(w) for w in ACCOUNT_WINDOWS)
# An Account op's answer head (see the script): Python's struct letters; Lua's struct spells i, I as i4, I4
_ACCOUNT_ANSWER_FIELDS = "H" * _N_COUNTS + "iiiiHIiiI"

# The script (its ARGV, reply and record layouts are described at its top); names between at-signs are constants.
_SCRIPT_TEMPLATE = (Path(__file__).parent / "redis_state.lua").read_text(encoding="utf-8")


def _lua(value: object) -> str:
    """A Python constant as Lua source: floats by their exact repr."""
    if isinstance(value, tuple):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    if isinstance(value, float):
        return repr(value)
    return str(int(value))  # type: ignore[call-overload]


class _Program(NamedTuple):
    """The state script in its two forms, as command heads: a function library (Redis 7), a plain script."""

    name: str  # the library's and its one function's name: versioned by its text, so versions never clash
    load: list[bytes]  # FUNCTION LOAD: the library's helpers are built once, at load, not on every call
    fcall: tuple[bytes, bytes]
    evalsha: tuple[bytes, bytes]  # where a server has no functions (before Redis 7) or may not load them
    eval: tuple[bytes, bytes]


def _build_program() -> _Program:
    constants = {
        "SESSION_TTL": contract.SESSION_TTL, "RECENT_TTL": contract.RECENT_TTL, "TARGET_TTL": contract.TARGET_TTL,
        "DAY": contract.DAY, "HOUR": contract.HOUR, "TIMES_MAX": TIMES_MAX, "TARGET_MAX": contract.TARGET_MAX,
        "SHARED_CAP": contract.SHARED_CAP, "ACCOUNT_CAP": contract.ACCOUNT_CAP, "SLOT_S": contract.SLOT_S,
        "HOURS": HOURS, "NKINDS": _N_KINDS, "CROWD_WINDOW": contract.CROWD_WINDOW, "CROWD_CAP": contract.CROWD_CAP,
        "SHARED_ACCOUNT_WINDOWS": ", ".join(_lua(w) for w in contract.SHARED_ACCOUNT_WINDOWS),
        "SHARED_SESSION_WINDOW": contract.SHARED_SESSION_WINDOW,
        "WINDOWS": tuple(w for windows in ACCOUNT_WINDOWS for w in windows),
        "NWINDOWS": "".join(str(len(windows)) for windows in ACCOUNT_WINDOWS),
        "MARGIN_MS": _REAL_EXPIRY_MARGIN_MS, "MAX_MS": _REAL_EXPIRY_MAX_MS, "DIGEST_CHARS": _DIGEST_BYTES,
        "SHARED_DIGEST_CHARS": _SHARED_DIGEST_BYTES, "SLACK_S": _REAL_EXPIRY_SLACK_S,
        "MOVE_GAP": contract.MOVE_GAP, "MOVES_MAX": contract.MOVES_MAX, "IN_PLACE": _IN_PLACE_BYTES,
        "KINDS_HEAD": "<" + "H" * _N_KINDS, "ANSWER_COUNTS": "<" + _ACCOUNT_ANSWER_FIELDS.replace("i", "i4").replace("I", "I4"),
    }
    body = _SCRIPT_TEMPLATE
    for name, value in constants.items():
        body = body.replace(f"@{name}@", value if isinstance(value, str) else _lua(value))
    if "@" in body.replace("@HEAD@", "").replace("@TAIL@", ""):
        raise RuntimeError(f"state script: constant left unformatted near {body[body.index('@'):][:40]!r}")
    name = "gateway_state_" + hashlib.sha1(body.encode()).hexdigest()[:16]
    library = body.replace("@HEAD@", f"#!lua name={name}").replace(
        "@TAIL@", f"redis.register_function{{function_name = '{name}', callback = run}}")
    script = body.replace("@HEAD@", "").replace("@TAIL@", "return run(KEYS, ARGV)")
    load = [b"*4\r\n", _bulk(b"FUNCTION"), _bulk(b"LOAD"), _bulk(b"REPLACE"), _bulk(library.encode())]
    sha = hashlib.sha1(script.encode()).hexdigest().encode()
    return _Program(name, load, (_bulk(b"FCALL"), _bulk(name.encode())), (_bulk(b"EVALSHA"), _bulk(sha)),
                    (_bulk(b"EVAL"), _bulk(script.encode())))


_TIMES = [struct.Struct(f"<{n}d").unpack_from for n in range(TIMES_MAX + 1)]
_SHARED_ANSWER = struct.Struct("<HHHHi").unpack_from  # 12 bytes
_SESSION_ANSWER = struct.Struct("<iiiHHH").unpack_from  # 18 bytes
_ACCOUNT_ANSWER_SIZE = struct.calcsize("<" + _ACCOUNT_ANSWER_FIELDS)
_ACCOUNT_ANSWER = struct.Struct("<" + _ACCOUNT_ANSWER_FIELDS).unpack_from
_SIZE = struct.Struct("<I").unpack_from  # a target's answer: the bytes of its list
_CROWD_ANSWER = struct.Struct("<i").unpack_from  # a crowd's (-1: full)
_SEP, _ESC = "\x1f", "\x1e"


def _bulk(data: bytes) -> bytes:
    """One argument in the Redis protocol."""
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(text: str) -> bytes:
    """A text as one argument (inlined: it is the most frequent)."""
    data = text.encode("utf-8", "surrogatepass")
    return b"$%d\r\n%s\r\n" % (len(data), data)


_label = functools.lru_cache(maxsize=1 << 16)(_text)  # texts that repeat: a session's place and lane


@functools.lru_cache(maxsize=1 << 16)
def _member(member: str) -> bytes:
    """An account's set member as the script takes it: the first 96 bits of its SHA-1 (ids repeat: cached)."""
    return _bulk(hashlib.sha1(_utf8(member)).digest()[:_DIGEST_BYTES])


@functools.lru_cache(maxsize=1 << 16)
def _shared_member(member: str) -> bytes:
    """A shared entity's set member as the script takes it: the first 64 bits of its SHA-1 (cached)."""
    return _bulk(hashlib.sha1(_utf8(member)).digest()[:_SHARED_DIGEST_BYTES])


def _token(text: str) -> str:
    """A text as a list holds it: itself, or ESC and its JSON (plain ASCII) when it holds SEP or ESC."""
    if _SEP in text or _ESC in text:
        return _ESC + json.dumps(text)
    return text


@functools.lru_cache(maxsize=1 << 16)
def _crowd_member(member: str) -> bytes:
    """A crowd member as the script takes it: its token (session ids repeat: cached)."""
    return _text(_token(member))


def _list(texts: tuple[str, ...]) -> bytes:
    """A list as the script keeps it: SEP, then each text's token followed by SEP."""
    joined = _SEP.join(("", *texts, ""))
    if joined.count(_SEP) != len(texts) + 1 or _ESC in joined:  # a text holds SEP or ESC: tokens
        joined = _SEP.join(("", *map(_token, texts), ""))
    return _text(joined)


def _texts(data: bytes) -> list[str]:
    """The texts of a list the script answered (SEP, each token followed by SEP)."""
    text = data.decode("utf-8", "surrogatepass")
    items = text.split(_SEP)[1:-1]
    if _ESC in text:
        items = [json.loads(item[1:]) if item[:1] == _ESC else item for item in items]
    return items


def _optional(reply: bytes, at: int, n: int) -> tuple[str | None, int]:
    """The text of n bytes at ``at`` of the reply (None for n = -1), and where the next starts."""
    if n < 0:
        return None, at
    return reply[at:at + n].decode("utf-8", "surrogatepass"), at + n


@functools.lru_cache(maxsize=64)
def _hours(n: int) -> Callable:
    """Unpacks n bytes of an account's hourly entries ('<ddd' each)."""
    return struct.Struct(f"<{n // 8}d").unpack_from


_NONE = _bulk(b"")
_ZERO, _ONE = _bulk(b"0"), _bulk(b"1")
_H, _A, _S, _T, _C, _B, _M, _P, _K = (_bulk(code) for code in (b"H", b"A", b"S", b"T", b"C", b"B", b"M", b"P", b"K"))
# the account kinds a Mark sees into, as the script takes them (1-based ACCOUNT_KINDS index)
_MARK_KINDS = {kind: _bulk(b"%d" % (ACCOUNT_KINDS.index(kind) + 1)) for kind in MARK_KINDS}
_PROGRAM = _build_program()
_ASKING = [b"*1\r\n", _bulk(b"ASKING")]
_CLUSTER_SLOTS = [b"*2\r\n", _bulk(b"CLUSTER"), _bulk(b"SLOTS")]
_SLOTS = 16384
# Answers that mean the slot map changed (or the cluster is reconfiguring), where following the
# redirections did not serve the exchange: refresh the map. A node that stopped answering may have
# been replaced by its replica: look again too.
_TOPOLOGY_ERRORS = (MovedError, ClusterDownError, RedisConnectionError)
_MIGRATING = (AskError, TryAgainError)  # a slot moving between live nodes: the map stands (MOVED is an AskError too)
_REDIRECTS_MAX = 5  # rounds of MOVED, ASK and TRYAGAIN followed in one exchange (a migration needs at most three)


_WRITES_ONLY = frozenset({Birth, Mark, Peers, Stick})  # ops that answer nothing: replayable on Redis later
_UNSENT_MAX = 4096  # past it the oldest unsent writes are dropped
_IDLE_MAX = 32  # idle connections kept per node
_MAX_NODES = 1000  # Redis Cluster's own recommended ceiling of nodes
try:  # what CLIENT SETINFO sends, worked out once (redis-py 7 and later)
    from redis.driver_info import resolve_driver_info

    _DRIVER_INFO = resolve_driver_info()
except ImportError:
    _DRIVER_INFO = None

_STICK_TAGS = {"session": _bulk(b"S4"), "account": _bulk(b"A5"), "shared": _bulk(b"H6")}  # the record a Stick creates


def encode(ops: list[Op], now: float, key: Callable[[str], bytes]) -> tuple[list[bytes], list[bytes]]:
    """The script's KEYS and ARGV for ``ops``, each already in the Redis protocol (see the script's header).

    redis-py packs an argument in about a microsecond; here keys and set
    members (which repeat from request to request) come from caches.
    """
    keys: list[bytes] = []
    args: list[bytes] = [_text(repr(now))]
    add_key, add, extend, member, shared, text = keys.append, args.append, args.extend, _member, _shared_member, _text
    for op in ops:
        add_key(key(op.key))
        kind = type(op)
        if kind is Shared:
            extend((_H, shared(op.account), shared(op.session)))
        elif kind is Account:
            members = op.members
            if len(members) != _N_KINDS:
                raise ValueError(f"Account op with {len(members)} members; one per ACCOUNT_KINDS item ({_N_KINDS})")
            add(_A)
            extend([member(m) if m else _NONE for m in members])
            add(text(op.loc))
        elif kind is Session:
            extend((_S, text(op.birth), text(op.loc), _label(op.place), _label(op.lane), _ONE if op.fixed else _ZERO))
        elif kind is Target:
            extend((_T, text(_token(op.record))))
        elif kind is Crowd:
            extend((_C, _crowd_member(op.member)))
        elif kind is Birth:
            extend((_B, text(op.record)))
        elif kind is Mark:
            mark = _MARK_KINDS.get(op.kind)
            if mark is None:
                raise ValueError(f"Mark into {op.kind!r}: the kinds are {', '.join(_MARK_KINDS)}")
            extend((_M, member(op.target), mark))
        elif kind is Peers:
            extend((_P, _list(op.peers[-PEERS_MAX:])))
        elif kind is Stick:
            extend((_K, _STICK_TAGS[stick_kind(op.key)], text(op.decision), text(repr(float(op.until)))))
        else:
            raise TypeError(f"not a state-store op: {op!r}")
    return keys, args


def decode(ops: list[Op], reply: object) -> list:
    """The contract's values from the script's reply: one string, each op's answer in turn (see the script's header)."""
    if type(reply) is not bytes:
        raise ValueError(f"state script answered {str(reply)[:80]} for {len(ops)} ops")
    values: list = []
    add = values.append
    at = 0
    for op in ops:
        kind = type(op)
        if kind is Shared:
            a10, a1h, a24, s1h, n = _SHARED_ANSWER(reply, at)
            at += 12
            if n < 0:
                add((a10, a1h, a24, s1h, None))
            else:
                add((a10, a1h, a24, s1h, reply[at:at + n].decode("utf-8", "surrogatepass")))
                at += n
        elif kind is Account:
            *counts, hour_n, hour_prev, day_n, day_prev, nt, nh, nl, ns, np = _ACCOUNT_ANSWER(reply, at)
            at += _ACCOUNT_ANSWER_SIZE
            times = list(_TIMES[nt >> 3](reply, at))
            at += nt
            hours = [int(slots) for slots in _hours(nh)(reply, at)[1::3]]
            loc, at = _optional(reply, at + nh, nl)
            sticky, at = _optional(reply, at, ns)
            peers = _texts(reply[at:at + np])
            at += np
            add((counts, times, hours, hour_n, hour_prev, day_n, day_prev, loc, peers, sticky))
        elif kind is Session:
            nb, nl, ns, nt, moves, switches = _SESSION_ANSWER(reply, at)
            birth, at = _optional(reply, at + 18, nb)
            loc, at = _optional(reply, at, nl)
            sticky, at = _optional(reply, at, ns)
            add((birth, list(_TIMES[nt >> 3](reply, at)), loc, sticky, moves, switches))
            at += nt
        elif kind is Target:
            [n] = _SIZE(reply, at)
            records = _texts(reply[at + 4:at + 4 + n])
            records.reverse()  # kept oldest first
            add(records)
            at += 4 + n
        elif kind is Crowd:
            [n] = _CROWD_ANSWER(reply, at)
            at += 4
            if n < 0:  # a full crowd
                add(None)
            else:
                add(_texts(reply[at:at + n]))
                at += n
        else:
            add(None)
    if at != len(reply):
        raise ValueError(f"state script answered {len(reply)} bytes, {at} read for {len(ops)} ops")
    return values


def _lost(error: ResponseError) -> bool:
    """The server no longer has the function library, or the script, it ran before."""
    return isinstance(error, NoScriptError) or "function not found" in str(error).lower()


def _never_loads(error: ResponseError) -> bool:
    """The server will never load the library: it has no functions (before Redis 7), or the user may not."""
    text = str(error).lower()
    return isinstance(error, NoPermissionError) or "unknown command" in text or "unknown subcommand" in text


def _stale(conn: AbstractConnection) -> bool:
    """An idle connection the server closed (a restart, its idle timeout) or left bytes on: not to be reused.

    No syscall, no await: the event loop has already seen the end of the stream
    or the bytes, on the connection's stream (``_reader``, the same attribute
    from redis-py 5.0 to 8.x; the tests run on both ends of that range).
    Replies are read whole (redis-py's parser keeps nothing between replies), so
    bytes buffered on the stream are bytes nobody asked for: a reply would be
    misread.
    """
    reader = conn._reader
    return reader is None or reader.at_eof() or reader.exception() is not None or bool(reader._buffer)


def _expire(task: asyncio.Task, expired: list) -> None:
    """An exchange's deadline passed: cancel it (see ``RedisStore.exchange``)."""
    expired.append(True)
    task.cancel()


async def _reply(reader: asyncio.StreamReader) -> bytes | ResponseError | None:
    """One reply off the stream: a string (bulk or simple), or the ResponseError of an error reply."""
    line = await reader.readuntil(b"\r\n")
    kind = line[:1]
    if kind == b"$":
        n = int(line[1:-2])
        return None if n < 0 else (await reader.readexactly(n + 2))[:-2]
    if kind == b"+":
        return line[1:-2]
    if kind == b"-":
        return BaseParser.parse_error(line[1:-2].decode("utf-8", "replace"))
    raise InvalidResponse(f"state script: unexpected reply {line[:40]!r}")


class _Call(NamedTuple):
    """One script call: ops of one exchange (all of them on one server; of one slot on a cluster)."""

    idx: list[int] | None  # which of the exchange's ops (None: all)
    keys: list[bytes]
    args: list[bytes]
    node: _Node | None = None  # where it goes (a cluster's)
    asking: bool = False  # sent to the node importing its slot, after ASKING


class _Node:
    """One Redis server: a client (for its connection settings), idle connections, how it runs the script."""

    __slots__ = ("client", "idle", "library", "loaded", "loading")

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.idle: list = []  # connections not in use; one per concurrent exchange at most
        self.library: bool | None = None  # the function library is loaded (None: not yet tried; False: cannot be)
        self.loaded = False  # the plain script is cached, where the library cannot be loaded
        self.loading: asyncio.Future | None = None  # a FUNCTION LOAD in flight, which other exchanges wait for

    async def call(self, command: list[bytes], replies: int = 1, *, parsed: bool = False) -> list:
        """Send packed commands on an idle connection and read their ``replies``: each a value, or the
        ResponseError of an error reply (read whole, so the connection stays in step).

        The script's answers (a string, ASKING's OK, an error) are read straight off the stream: through
        redis-py's parser a reply costs about 8 us more. ``parsed``: replies of any type, through it
        (``CLUSTER SLOTS``, ``FUNCTION LOAD``). A connection that failed or was cancelled mid-command is
        dropped (redis-py reconnects on its next use), so every connection goes back to the idle list.
        """
        idle = self.idle
        conn = idle.pop() if idle else self.client.connection_pool.make_connection()
        try:
            if conn.is_connected and _stale(conn):
                await conn.disconnect(nowait=True)
            if parsed:
                await conn.send_packed_command(command, check_health=False)
                out = []
                for _ in range(replies):
                    try:
                        out.append(await conn.read_response())
                    except ResponseError as error:
                        out.append(error)
                return out
            if not conn.is_connected:
                await conn.connect()  # redis-py's handshake (HELLO, AUTH, SELECT, CLIENT SETINFO)
            try:
                conn._writer.writelines(command)
                reader = conn._reader
                return [await _reply(reader) for _ in range(replies)]
            except BaseException as error:  # replies left unread: the connection is out of step for good
                await conn.disconnect(nowait=True)
                if isinstance(error, (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)):
                    raise RedisConnectionError(f"Redis connection lost: {error!r}") from error
                raise
        finally:
            if len(idle) < _IDLE_MAX:
                idle.append(conn)
            else:  # after a burst: the server keeps no more connections open for us than steady traffic needs
                await conn.disconnect(nowait=True)

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            await conn.disconnect()
        await self.client.aclose()


class RedisStore:
    """``StateStore`` on Redis (one server, or a Redis Cluster) with a local fallback; see the module docstring."""

    def __init__(self, state: State, fallback: MemoryStore | None = None) -> None:
        problem = redis_state_problem(state)
        if problem:
            raise ValueError(problem)
        self.prefix = state.prefix
        self.url = state.url
        self.cluster = state.cluster
        self.timeout_s = state.timeout_ms / 1000.0
        self.fallback = fallback if fallback is not None else MemoryStore(state.max_keys)
        self.breaker = CircuitBreaker(state.breaker_failures, state.breaker_reset_s)
        self.round_trips = 0  # network round trips made (one per node an exchange touches, once the code is loaded)
        self.degraded_exchanges = 0
        self.redirects = {"moved": 0, "ask": 0, "tryagain": 0}  # Redis Cluster: redirections followed
        self._unsent: deque[Op] = deque(maxlen=_UNSENT_MAX)  # writes only the local fallback has had
        self._client = self._connect()
        self._seed = _Node(self._client)
        self._nodes: dict[tuple[str, int], _Node] = {}  # Redis Cluster: every node met, by address
        self._slots: list[_Node] | None = None  # Redis Cluster: the node serving each slot, once known
        self._refresh: asyncio.Task | None = None
        self._closing: set[asyncio.Task] = set()  # nodes dropped from the slot map, closing
        self._open = f"{self.prefix}:{{"
        self._key = functools.lru_cache(maxsize=1 << 16)(self._key_bulk)
        self._slot = functools.lru_cache(maxsize=1 << 16)(self._key_slot)

    def _connect(self, host: str | None = None, port: int | None = None) -> aioredis.Redis:
        # The exchange as a whole is bounded by asyncio.timeout (below), so the
        # connections need no read or write timeout of their own (redis-py
        # would start a task per write to enforce one).
        client = aioredis.Redis.from_url(
            self.url,
            socket_timeout=None,
            socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=False,
        )
        if host is not None:  # another node of the cluster: same TLS, credentials and options
            client.connection_pool.connection_kwargs.update(host=host, port=port)
        if _DRIVER_INFO is not None:  # else each new connection looks its library's version up: 0.5 ms, in a burst
            client.connection_pool.connection_kwargs["driver_info"] = _DRIVER_INFO
        return client

    @property
    def degraded(self) -> bool:
        """True while the breaker keeps requests on the local fallback."""
        return self.breaker.state != CLOSED

    def redis_key(self, key: str) -> str:
        """``"<entity key>"`` -> ``"<prefix>:{<entity key>}"``."""
        return self._open + key + "}"

    def _key_bulk(self, key: str) -> bytes:
        return _text(self._open + key + "}")

    def _key_slot(self, key: str) -> int:
        return key_slot(_utf8(self._open + key + "}"))

    async def exchange(self, ops: list[Op], now: float) -> BatchResult:
        if not ops:
            return BatchResult([])
        if not self.breaker.allow():
            return self._degrade(ops, now)
        unsent = len(self._unsent)
        if unsent:  # writes that only reached the local fallback go first, once Redis may answer again
            ops = [*self._unsent, *ops]
        if self.cluster and self._slots is None:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._discover()
            except asyncio.CancelledError:
                self.breaker.release()
                raise
            except Exception as error:  # noqa: BLE001 - a cluster that cannot be mapped is an outage
                return self._failed(error, ops[unsent:], now)
        try:  # a malformed op is the caller's error, not an outage
            if self.cluster:
                calls = self._calls(ops, now)
            else:
                keys, args = encode(ops, now, self._key)
        except BaseException:
            self.breaker.release()
            raise
        # The exchange as a whole is bounded by the timeout: asyncio.timeout's job, leaner (it cost about 3 us
        # a request): the task is cancelled at the deadline, and that cancellation told from any other.
        task = asyncio.current_task()
        assert task is not None
        loop, expired, cancelling = asyncio.get_running_loop(), [], task.cancelling()
        deadline = loop.call_at(loop.time() + self.timeout_s, _expire, task, expired)
        try:
            if self.cluster:
                values = await self._on_cluster(ops, now, calls)
            else:
                values = decode(ops, await self._on_server(keys, args))
        except asyncio.CancelledError:
            if not expired or task.uncancel() > cancelling:  # cancelled by the caller
                self.breaker.release()
                raise
            return self._failed(TimeoutError(f"Redis did not answer within {self.timeout_s * 1000:g} ms"),
                                ops[unsent:], now)
        except Exception as error:  # noqa: BLE001 - any failure of the shared store degrades, never fails the request
            return self._failed(error, ops[unsent:], now)
        finally:
            deadline.cancel()
        if self.breaker.state != CLOSED:
            log.warning("state store: Redis answers again; breaker closed")
        self.breaker.record_success()
        if unsent:
            self._unsent.clear()
            values = values[unsent:]
        return BatchResult(values)

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        await self._seed.close()
        for node in self._nodes.values():
            await node.close()
        await self.fallback.close()

    def _failed(self, error: Exception, ops: list[Op], now: float) -> BatchResult:
        if self.cluster and isinstance(error, _MIGRATING) and not isinstance(error, MovedError):
            # a slot being migrated: this exchange's keys are on their way to another node; the cluster is up
            # and its map unchanged, so neither the breaker nor a refresh is the answer (this request degrades)
            self.breaker.release()
            return self._degrade(ops, now)
        was = self.breaker.state
        self.breaker.record_failure()
        if self.breaker.state != was:
            log.warning("state store: Redis failed (%s: %s); breaker %s, serving on local state",
                        type(error).__name__, error, self.breaker.state)
        if self.cluster and isinstance(error, _TOPOLOGY_ERRORS):
            self._refresh_slots()
        return self._degrade(ops, now)

    def _degrade(self, ops: list[Op], now: float) -> BatchResult:
        # Writes known only after an earlier answer (a sticky decision, a burst or crowd mark, peers) reach
        # Redis with the next exchange it answers: the other replicas must learn them too.
        self._unsent.extend(op for op in ops if type(op) in _WRITES_ONLY)
        self.degraded_exchanges += 1
        result = self.fallback.exchange_sync(ops, now)
        result.degraded = True
        return result

    # -- running the script ---------------------------------------------------------------

    async def _on_server(self, keys: list[bytes], args: list[bytes]) -> object:
        """The script's reply on one server (an error reply raised): FCALL straight away once the library is
        loaded, the usual case; else through ``_run``, which loads it or sends the code as a script."""
        node = self._seed
        if node.library:
            [reply] = await self._send(node, [b"*%d\r\n" % (len(keys) + len(args) + 3), *_PROGRAM.fcall,
                                              _bulk(b"%d" % len(keys)), *keys, *args])
            if not isinstance(reply, ResponseError):
                return reply  # (decode refuses anything but the script's string)
            if not _lost(reply):
                raise reply
            await self._load(node)  # the server lost it (restarted without persistence, FUNCTION FLUSH)
        [reply] = await self._run(node, [_Call(None, keys, args)])
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _run(self, node: _Node, calls: list[_Call]) -> list:
        """Each call's script on ``node``, all in one round trip: per call its reply, or its error reply."""
        if node.library is None:
            await self._load(node)
        replies = await self._script(node, calls)
        lost = [i for i, reply in enumerate(replies) if isinstance(reply, ResponseError) and _lost(reply)]
        if lost:  # the server lost the code (restarted without persistence, FUNCTION FLUSH, SCRIPT FLUSH)
            if node.library:
                await self._load(node)
            else:
                node.loaded = False  # resend its text
            again = await self._script(node, [calls[i] for i in lost])
            for i, reply in zip(lost, again, strict=True):
                replies[i] = reply
        return replies

    async def _script(self, node: _Node, calls: list[_Call]) -> list:
        """One round trip: each call as FCALL of the library (or EVALSHA, or EVAL with the text, where the library
        cannot be loaded), ASKING before a call sent to the node a slot is migrating to."""
        program = _PROGRAM.fcall if node.library else _PROGRAM.evalsha if node.loaded else _PROGRAM.eval
        command: list[bytes] = []
        answers: list[int] = []  # where each call's reply comes, after any ASKING's (OK)
        n = 0
        for call in calls:
            if call.asking:
                command += _ASKING
                n += 1
            answers.append(n)
            n += 1
            command += [b"*%d\r\n" % (len(call.keys) + len(call.args) + 3), *program,
                        _bulk(b"%d" % len(call.keys)), *call.keys, *call.args]
        replies = await self._send(node, command, n)
        if program is _PROGRAM.eval:
            node.loaded = True
        return replies if len(replies) == len(calls) else [replies[at] for at in answers]

    async def _send(self, node: _Node, command: list[bytes], replies: int = 1, *, parsed: bool = False) -> list:
        """Commands to ``node`` in one write, their ``replies`` read (errors as values): one round trip, counted."""
        self.round_trips += 1
        return await node.call(command, replies, parsed=parsed)

    async def _ask(self, node: _Node, command: list[bytes]) -> object:
        """One command to ``node`` (any reply type): its reply, or its error raised."""
        [reply] = await self._send(node, command, parsed=True)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _load(self, node: _Node) -> None:
        """Load the function library on ``node``, or settle for the plain script where it can never be loaded.

        One load at a time per node: concurrent exchanges (a cold start, a FUNCTION FLUSH under load) wait for
        it instead of each queueing a FUNCTION LOAD of their own on the server's one thread. A refusal that may
        pass (OOM, READONLY, BUSY, LOADING) fails this exchange only: the next one loads again.
        """
        if node.loading is not None:
            await asyncio.shield(node.loading)  # our own timeout must not cancel the load the others wait for
            return
        node.loading = asyncio.get_running_loop().create_future()
        try:
            await self._ask(node, _PROGRAM.load)
        except ResponseError as error:
            if not _never_loads(error):
                raise
            log.warning("state store: cannot load the function library %s (%s); running it as a script (EVALSHA)",
                        _PROGRAM.name, error)
            node.library = False
        else:
            node.library = True
        finally:
            done, node.loading = node.loading, None
            done.set_result(None)

    # -- Redis Cluster: one script per slot, one round trip per node ------------------------

    def _calls(self, ops: list[Op], now: float) -> list[_Call]:
        """The ops as script calls, one per slot (a call may declare keys of one slot only), each for the node
        serving its slot; ops keep their order within a call."""
        slot, slots = self._slot, self._slots
        assert slots is not None
        by_slot: dict[int, list[int]] = {}
        for i, op in enumerate(ops):
            by_slot.setdefault(slot(op.key), []).append(i)
        return [_Call(idx, *encode([ops[i] for i in idx], now, self._key), slots[s]) for s, idx in by_slot.items()]

    async def _on_cluster(self, ops: list[Op], now: float, calls: list[_Call]) -> list:
        """Run ``calls``, each node's in one round trip, all nodes at once; follow MOVED, ASK and TRYAGAIN.

        Ops on different entities never interact, so each slot's share runs on its own and a redirected
        call is simply sent again where the cluster says: a redirection refuses a call before it runs.
        """
        values: list = [None] * len(ops)
        for _ in range(_REDIRECTS_MAX + 1):
            by_node: dict[_Node, list[_Call]] = {}
            for call in calls:
                by_node.setdefault(call.node, []).append(call)
            if len(by_node) == 1:
                [(node, sent)] = by_node.items()
                answers = [await self._run(node, sent)]
            else:
                answers = await asyncio.gather(*[self._run(node, sent) for node, sent in by_node.items()])
            calls = []
            for sent, replies in zip(by_node.values(), answers, strict=True):
                for call, reply in zip(sent, replies, strict=True):
                    if isinstance(reply, ResponseError):
                        calls += self._redirected(call, reply, ops, now)
                        error = reply
                        continue
                    idx = call.idx
                    for i, value in zip(idx, decode([ops[i] for i in idx], reply), strict=True):
                        values[i] = value
            if not calls:
                return values
        raise error

    def _redirected(self, call: _Call, error: ResponseError, ops: list[Op], now: float) -> list[_Call]:
        """Where a refused call goes next; the error raised when it is no redirection."""
        if isinstance(error, AskError):  # MOVED is an AskError too
            node = self._node_at(error.host, error.port, call.node)
            if isinstance(error, MovedError):  # the slot has a new owner: note it, and read the whole map again
                self._slots[error.slot_id] = node  # type: ignore[index]
                self._refresh_slots()
                self.redirects["moved"] += 1
                return [call._replace(node=node, asking=False)]
            self.redirects["ask"] += 1  # this slot is migrating, and the call's keys are at its new node
            return [call._replace(node=node, asking=True)]
        if isinstance(error, TryAgainError) and len(set(call.keys)) > 1:
            # A slot in migration, some of the call's keys moved and some not: each key on its own, to the same
            # node (it runs there, or answers ASK for its new node).
            self.redirects["tryagain"] += 1
            by_key: dict[str, list[int]] = {}
            for i in call.idx:
                by_key.setdefault(ops[i].key, []).append(i)
            return [_Call(idx, *encode([ops[i] for i in idx], now, self._key), call.node, call.asking)
                    for idx in by_key.values()]
        raise error

    def _node_at(self, host: str, port: int, asked: _Node) -> _Node:
        """The node at ``host:port`` (an empty host: the one asked), met before or now."""
        address = (host or asked.client.connection_pool.connection_kwargs.get("host", "127.0.0.1"), port)
        node = self._nodes.get(address)
        if node is None:
            node = self._nodes[address] = _Node(self._connect(*address))
        return node

    # -- Redis Cluster: the slot map ------------------------------------------------------

    async def _discover(self) -> None:
        """Read the slot map from the first node that answers (the seed, then every node met)."""
        error: Exception | None = None
        for node in [self._seed, *self._nodes.values()]:
            try:
                answer = await self._ask(node, _CLUSTER_SLOTS)
            except Exception as failure:  # noqa: BLE001 - try the next node
                error = failure
                continue
            self._slots = self._map(node, answer)
            return
        raise error if error is not None else RuntimeError("no Redis Cluster node to ask")

    def _map(self, asked: _Node, answer: object) -> list[_Node]:
        kwargs = asked.client.connection_pool.connection_kwargs
        slots: list[_Node | None] = [None] * _SLOTS
        addresses: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for start, end, primary, *_ in answer:  # type: ignore[union-attr]
            if not (type(start) is int and type(end) is int and 0 <= start <= end < _SLOTS):
                raise RuntimeError(f"Redis Cluster: CLUSTER SLOTS answered the range {start!r}..{end!r}")
            host = primary[0].decode() if primary[0] else ""
            address = (host or kwargs.get("host", "127.0.0.1"), int(primary[1]))  # "" or NULL: the node asked
            addresses.setdefault(address, []).append((start, end))
            if len(addresses) > _MAX_NODES:
                raise RuntimeError(f"Redis Cluster: CLUSTER SLOTS names more than {_MAX_NODES} primaries")
        for address, ranges in addresses.items():
            node = self._nodes.get(address)
            if node is None:
                node = self._nodes[address] = _Node(self._connect(*address))
            for start, end in ranges:
                slots[start:end + 1] = [node] * (end + 1 - start)
        missing = slots.count(None)
        if missing:
            raise RuntimeError(f"Redis Cluster serves {_SLOTS - missing} of {_SLOTS} slots; state needs all")
        gone = [address for address in self._nodes if address not in addresses]
        for address in gone:  # a node the map no longer names: its connections close, it is not asked again
            closing = asyncio.get_running_loop().create_task(self._nodes.pop(address).close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return slots  # type: ignore[return-value]

    def _refresh_slots(self) -> None:
        """Re-read the slot map in the background; requests go on with the old one meanwhile."""
        if self._refresh is not None and not self._refresh.done():
            return

        async def refresh() -> None:
            try:
                async with asyncio.timeout(max(self.timeout_s, 1.0)):
                    await self._discover()
            except Exception as error:  # noqa: BLE001 - the next topology error tries again
                log.warning("state store: Redis Cluster slot map refresh failed (%s: %s)", type(error).__name__, error)

        self._refresh = asyncio.get_running_loop().create_task(refresh())
