"""The shared state store on Redis: one round trip per exchange, degrade on failure.

Every op of an ``exchange`` runs inside ONE ``EVALSHA`` of a Lua script, so a
protected request costs exactly one network round trip (``round_trips``
counts them; after a server restart or ``SCRIPT FLUSH`` the first call also
sends the script once, counted too). Inside the script one ``MGET`` reads
every key of the request and each written string key costs one ``SET``: a
call from Lua costs the server several microseconds, so the layout keeps
them few.

Semantics are those of ``gateway.signals.memory`` exactly, expiry included:
expiries are judged on the ``now`` given to ``exchange``, never on Redis's
clock. Expiries and window bounds are computed in Python with the memory
backend's own float arithmetic and cross the wire as JSON (Python's exact
shortest ``repr``); scores and expiries are stored as that text, so both
backends compare the same doubles. Each key also gets a real ``PX`` of its
ttl plus a minute, so Redis drops it by itself.

Keys: ``"<entity>#<field>"`` -> ``<prefix>:{<entity>}:<field>``, each a string:

- Put / PutIfAbsent / Incr: ``"<expiry>|<value>"``.
- Append: a JSON array of strings ``[expiry, newest, ..., oldest]``, values
  tagged ``f<float repr>`` or ``s<str>``; at most ``maxlen`` values.
- Distinct: up to 16 members, a JSON object ``{"z": [member, score, ...]}``
  ordered by (score, member) as a sorted set would be; past 16 members, a
  real sorted set (JSON costs the script about a microsecond per member each
  way, a sorted-set call a few microseconds whatever the size). At most
  ``cap`` members either way; the key is alive while its newest score plus
  the op's ttl is after ``now``.

A key holding another kind (or a Redis type this module does not write) reads
as absent and is overwritten, as in the memory backend.

URLs: ``redis://``, ``rediss://`` (TLS; certificate options as URL query
parameters, e.g. ``?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem``) and
``unix://``; options such as ``db``, ``username`` and ``password`` as
redis-py's ``from_url`` reads them.

Redis Cluster is not supported by this module, and what happens there is
precise: the hash tag ``{<entity>}`` puts all of one entity's keys in one
slot, but a request touches about eight entities (its IP, prefix, ASN,
device, TLS+UA pair, account, session, target) plus its sticky scopes, so its
keys span several slots. Cluster refuses a script (and an ``MGET``) whose
keys span slots with ``CROSSSLOT``, and a node answers ``MOVED`` for keys it
does not own; either way every exchange fails, the breaker opens and the
gateway serves degraded on local state, as in an outage. Supporting Cluster
would take: a cluster client (``redis.asyncio.cluster.RedisCluster``) with
``state.url`` naming seed nodes; grouping a batch's ops by the slot of their
entity and running this same script once per group (ops on one key stay in
one group and in order, and ops on different keys do not interact, so
results are unchanged); sending the groups to their nodes concurrently, so a
request costs one round trip per node touched, in parallel (the figure to
quote becomes the slowest of those); and refreshing the slot map on
``MOVED``/``ASK`` outside the request path.

Failure is first-class: no retries, connect and read timeouts of
``state.timeout_ms``, the whole exchange bounded by the same timeout, and a
circuit breaker (``state.breaker_failures`` consecutive failures open it for
``state.breaker_reset_s``, then one request probes). While Redis fails or the
breaker is open, the local fallback ``MemoryStore`` answers and the result is
marked ``degraded``; nothing is raised to the caller, and with the breaker
open no network call is made at all.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from gateway.settings import State
from gateway.signals.breaker import CLOSED, CircuitBreaker
from gateway.signals.memory import MemoryStore
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

log = logging.getLogger("gateway.state")

_REAL_EXPIRY_MARGIN_MS = 60_000  # Redis's own expiry: a bound, judged on its clock

# KEYS[i] is op i's key; ARGV[1] is a JSON array: the table V of the
# request's distinct numbers and expiry texts (V[1] is now), then per op its
# kind letter and fields, numbers given as indexes into V (see
# RedisStore._encode: a float costs Python about a microsecond to print, and
# a request has ~70 float fields but fewer than ten distinct values). Every bound and expiry arrives
# precomputed, so the script formats no numbers: Lua numbers given to
# redis.call are sent as %.17g, which round-trips a double exactly.
# Stored values: "<expiry>|<value>" for Put/PutIfAbsent/Incr, a JSON array of
# strings "[expiry, newest, ..., oldest]" for Append, a sorted set for Distinct.
_SCRIPT = r"""
local a = cjson.decode(ARGV[1])
local V = a[1]  -- the request's distinct numbers and texts; ops refer to them by index
local now = V[1]
local call, decode, encode, find, sub, byte = redis.call, cjson.decode, cjson.encode, string.find, string.sub, string.byte
local tremove, tinsert = table.remove, table.insert

-- every key's current text, read in one call; kept up to date as ops write
local held = {}
local got = call('MGET', unpack(KEYS))
for i = #KEYS, 1, -1 do held[KEYS[i]] = got[i] end

local function write(k, text, ms)
  held[k] = text
  call('SET', k, text, 'PX', ms)
end

-- the live "<expiry>|<value>" under k as (value, text up to the bar), else nil
local function live_scalar(k)
  local v = held[k]
  if type(v) ~= 'string' then return nil end
  local first = byte(v, 1)
  if first == 91 or first == 123 then return nil end  -- a list or a distinct set
  local bar = find(v, '|', 1, true)
  if not bar then return nil end
  local expiry = tonumber(sub(v, 1, bar - 1))
  if expiry and expiry > now then return sub(v, bar + 1), sub(v, 1, bar) end
  return nil
end

-- a < b by bytes (code points), as Python and Redis order strings; Lua's < follows the locale
local function before(x, y)
  local lx, ly = #x, #y
  for j = 1, (lx < ly) and lx or ly do
    local bx, by = byte(x, j), byte(y, j)
    if bx ~= by then return bx < by end
  end
  return lx < ly
end

-- how many scores in the flat [m, s, m, s, ...] list (ascending) are <= x
local function rank_le(z, x)
  local lo, hi = 0, #z / 2  -- answer in [lo, hi]
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if tonumber(z[2 * mid]) <= x then lo = mid else hi = mid - 1 end
  end
  return lo
end

-- how many scores are < x
local function rank_lt(z, x)
  local lo, hi = 0, #z / 2
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if tonumber(z[2 * mid]) < x then lo = mid else hi = mid - 1 end
  end
  return lo
end

-- JSON costs about a microsecond per member each way, a sorted-set op a few
-- microseconds whatever its size: sets past this many members become sorted sets
local SMALL_SET = 16

-- is k a sorted set whose newest score is still within ttl? (else it is dropped)
local function zset_live(k, ttl)
  local top = redis.pcall('ZRANGE', k, -1, -1, 'WITHSCORES')
  if type(top) ~= 'table' or top.err or not top[2] then return false end
  if tonumber(top[2]) + ttl > now then return true end
  call('DEL', k)
  return false
end

local out = {}
local p = 2
for i = 1, #KEYS do
  local k = KEYS[i]
  local kind = a[p]
  if kind == 'D' then
    -- member, ts, ts text, ttl, real ms, cap, nwin, then nwin inclusive lower bounds (numbers as V indexes)
    local member, ts, text, ttl, ms, cap, nwin = a[p+1], V[a[p+2]], V[a[p+3]], V[a[p+4]], a[p+5], a[p+6], a[p+7]
    local counts = {}
    local v = held[k]
    if cap < 1 then
      held[k] = false
      call('DEL', k)
      for w = 1, nwin do counts[w] = 0 end
    elseif type(v) ~= 'string' and zset_live(k, ttl) then
      -- a large set: a sorted set, every step in C
      held[k] = true
      call('ZADD', k, 'GT', ts, member)
      call('ZREMRANGEBYRANK', k, 0, -cap - 1)  -- drop the oldest-seen
      if nwin <= 4 then
        for w = 1, nwin do counts[w] = call('ZCOUNT', k, V[a[p+7+w]], ts) end
      else  -- many windows: fetch the scores once and count here
        local lowest = V[a[p+8]]
        for w = 2, nwin do lowest = math.min(lowest, V[a[p+7+w]]) end
        local got = call('ZRANGE', k, lowest, ts, 'BYSCORE', 'WITHSCORES')  -- [member, score, ...] ascending
        local upper = #got / 2
        for w = 1, nwin do counts[w] = upper - rank_lt(got, V[a[p+7+w]]) end
      end
      call('PEXPIRE', k, ms)
    else
      -- a small set: {"z": [member, score text, ...]} by (score, member) ascending
      local z = nil
      if type(v) == 'string' and byte(v, 1) == 123 then
        z = decode(v).z
        if not (tonumber(z[#z]) + ttl > now) then z = nil end
      end
      z = z or {}
      local n, at = #z, nil
      for j = 1, n, 2 do
        if z[j] == member then at = j; break end
      end
      local changed = true
      if at then
        if ts > tonumber(z[at + 1]) then
          tremove(z, at); tremove(z, at); n = n - 2
        else
          changed = false
        end
      end
      if changed then
        local j = n - 1  -- walk back from the newest to this member's place
        while j >= 1 do
          local s = tonumber(z[j + 1])
          if s > ts or (s == ts and before(member, z[j])) then j = j - 2 else break end
        end
        tinsert(z, j + 2, member); tinsert(z, j + 3, text)
      end
      while #z > 2 * cap do tremove(z, 1); tremove(z, 1); changed = true end  -- drop the oldest-seen
      local upper = rank_le(z, ts)
      for w = 1, nwin do counts[w] = upper - rank_lt(z, V[a[p+7+w]]) end
      if #z > 2 * SMALL_SET then
        -- grown large: becomes a sorted set (same order, same members)
        local args = {}
        for j = 1, #z, 2 do args[j] = z[j + 1]; args[j + 1] = z[j] end
        held[k] = true
        call('DEL', k)
        call('ZADD', k, unpack(args))
        call('PEXPIRE', k, ms)
      elseif changed then
        write(k, encode({z = z}), ms)
      end
    end
    out[i] = counts
    p = p + 8 + nwin
  elseif kind == 'A' then
    -- value, expiry text, real ms, maxlen; the list is [expiry, newest, ..., oldest]
    local value, expiry, ms, maxlen = a[p+1], V[a[p+2]], a[p+3], a[p+4]
    local v, list = held[k], false
    if type(v) == 'string' and byte(v, 1) == 91 then
      list = decode(v)
      if not (tonumber(list[1]) > now) then list = false end
    end
    if maxlen < 1 then
      held[k] = false
      call('DEL', k)
    else
      local new = {expiry, value}
      if list then
        for j = 2, math.min(#list, maxlen) do new[j + 1] = list[j] end
      end
      write(k, encode(new), ms)
    end
    out[i] = list
    p = p + 5
  elseif kind == 'G' then
    out[i] = live_scalar(k) or false
    p = p + 1
  elseif kind == 'P' then
    -- value, expiry text, real ms
    write(k, V[a[p+2]] .. '|' .. a[p+1], a[p+3])
    out[i] = false
    p = p + 4
  elseif kind == 'N' then
    local current = live_scalar(k)
    if current then
      out[i] = current
    else
      write(k, V[a[p+2]] .. '|' .. a[p+1], a[p+3])
      out[i] = false
    end
    p = p + 4
  elseif kind == 'C' then
    -- amount, expiry text, real ms
    local current, head = live_scalar(k)
    local n
    if current then
      n = string.format('%d', (string.match(current, '^%-?%d+$') and tonumber(current) or 0) + a[p+1])
      held[k] = head .. n
      call('SET', k, held[k], 'KEEPTTL')
    else
      n = string.format('%d', a[p+1])
      write(k, V[a[p+2]] .. '|' .. n, a[p+3])
    end
    out[i] = n
    p = p + 4
  else
    return redis.error_reply('unknown op kind ' .. tostring(kind))
  end
end
return encode(out)
"""

_KIND = {Distinct: "D", Append: "A", Get: "G", Put: "P", PutIfAbsent: "N", Incr: "C"}
_to_json = json.JSONEncoder(separators=(",", ":")).encode
_INF = math.inf


@functools.lru_cache(maxsize=256)
def _real_ms(ttl: float) -> int:
    return max(1, math.ceil(ttl * 1000)) + _REAL_EXPIRY_MARGIN_MS


def _tag(value: str | float) -> str:
    return "s" + value if type(value) is str else "f" + repr(float(value))


def _untag(text: str) -> str | float:
    return text[1:] if text[0] == "s" else float(text[1:])


class RedisStore:
    """``StateStore`` on Redis with a local fallback; see the module docstring."""

    def __init__(self, state: State, fallback: MemoryStore | None = None) -> None:
        if not state.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"state.url {state.url!r} is not a Redis URL: use redis://host:port/db, "
                "rediss://host:port/db for TLS, or unix:///path/to/redis.sock"
            )
        if state.timeout_ms <= 0:
            raise ValueError(f"state.timeout_ms must be positive, got {state.timeout_ms}")
        self.prefix = state.prefix
        self.timeout_s = state.timeout_ms / 1000.0
        self.fallback = fallback if fallback is not None else MemoryStore(state.max_keys)
        self.breaker = CircuitBreaker(state.breaker_failures, state.breaker_reset_s)
        self.round_trips = 0  # network round trips made (one per exchange once the script is cached)
        self.degraded_exchanges = 0
        self._client = aioredis.Redis.from_url(
            state.url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=False,
        )
        self._sha: str | None = None
        self._open = f"{self.prefix}:{{"

    @property
    def degraded(self) -> bool:
        """True while the breaker keeps requests on the local fallback."""
        return self.breaker.state != CLOSED

    def redis_key(self, key: str) -> str:
        """``"<entity>#<field>"`` -> ``"<prefix>:{<entity>}:<field>"``."""
        return self._open + key.replace("#", "}:", 1) if "#" in key else self._open + key + "}:"

    async def exchange(self, ops: list[Op], now: float) -> BatchResult:
        if not ops:
            return BatchResult([])
        if not self.breaker.allow():
            return self._degrade(ops, now)
        try:
            async with asyncio.timeout(self.timeout_s):  # no extra task, unlike wait_for
                reply = await self._run(ops, now)
            values = self._decode(ops, reply)
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except Exception as error:  # noqa: BLE001 - any failure of the shared store degrades, never fails the request
            was = self.breaker.state
            self.breaker.record_failure()
            if self.breaker.state != was:
                log.warning("state store: Redis failed (%s: %s); breaker %s, serving on local state",
                            type(error).__name__, error, self.breaker.state)
            return self._degrade(ops, now)
        if self.breaker.state != CLOSED:
            log.warning("state store: Redis answers again; breaker closed")
        self.breaker.record_success()
        return BatchResult(values)

    async def close(self) -> None:
        await self._client.aclose()
        await self.fallback.close()

    def _degrade(self, ops: list[Op], now: float) -> BatchResult:
        self.degraded_exchanges += 1
        result = self.fallback.exchange_sync(ops, now)
        result.degraded = True
        return result

    async def _run(self, ops: list[Op], now: float) -> list:
        keys, arg = self._encode(ops, now)
        if self._sha is not None:
            self.round_trips += 1
            try:
                return await self._client.evalsha(self._sha, len(keys), *keys, arg)
            except NoScriptError:
                self._sha = None  # the server restarted or flushed its scripts: resend once
        self.round_trips += 1
        reply = await self._client.eval(_SCRIPT, len(keys), *keys, arg)
        self._sha = _SCRIPT_SHA
        return reply

    def _encode(self, ops: list[Op], now: float) -> tuple[list[str], str]:
        # Expiries and window bounds are computed here with the memory
        # backend's own float arithmetic, so the script only compares and
        # stores them. Every distinct number or expiry goes once, in V.
        values: list = [now]
        index: dict = {now: 1}
        keys: list[str] = []
        args: list = [values]
        opening, real_ms, nextafter, inf = self._open, _real_ms, math.nextafter, _INF

        def ref(value: object) -> int:
            at = index.get(value)
            if at is None:
                values.append(value)
                at = index[value] = len(values)
            return at

        for op in ops:
            key = op.key
            keys.append(opening + key.replace("#", "}:", 1) if "#" in key else opening + key + "}:")
            kind = _KIND[type(op)]
            if kind == "D":
                ts, windows, ttl = op.ts, op.windows, op.ttl
                text = ("t", ts)  # the score as stored: its exact repr
                at = index.get(text)
                if at is None:
                    values.append(repr(ts))
                    at = index[text] = len(values)
                args += ("D", op.member, ref(ts), at, ref(ttl), real_ms(ttl), op.cap, len(windows))
                # (ts - w, ts] as an inclusive lower bound: the next double above ts - w
                args += [ref(nextafter(ts - w, inf)) for w in windows]
            elif kind == "G":
                args.append("G")
            else:
                # expiry texts are keyed apart from numbers: ("e", ttl) never equals a float
                expiry = ("e", op.ttl)
                at = index.get(expiry)
                if at is None:
                    values.append(repr(now + op.ttl))
                    at = index[expiry] = len(values)
                if kind == "A":
                    args += ("A", _tag(op.value), at, real_ms(op.ttl), op.maxlen)
                elif kind == "C":
                    args += ("C", int(op.amount), at, real_ms(op.ttl))
                else:
                    args += (kind, op.value, at, real_ms(op.ttl))
        return keys, _to_json(args)

    @staticmethod
    def _decode(ops: list[Op], reply: bytes) -> list:
        replies = json.loads(reply)
        if type(replies) is not list or len(replies) != len(ops):
            raise ValueError(f"state script answered {reply[:80]!r} for {len(ops)} ops")
        values: list = []
        for op, answer in zip(ops, replies, strict=True):
            kind = type(op)
            if kind is Distinct:
                values.append(tuple(answer))
            elif kind is Append:
                values.append([_untag(text) for text in answer[1 : op.maxlen + 1]] if answer else [])
            elif kind is Incr:
                values.append(int(answer))
            else:
                values.append(answer if answer is not False else None)
        return values


def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()


_SCRIPT_SHA = _sha1(_SCRIPT)
