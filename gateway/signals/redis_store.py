"""The shared state store on Redis: one round trip per exchange, degrade on failure.

Every op of an ``exchange`` runs inside ONE ``EVALSHA`` of a Lua script, so a
protected request costs exactly one network round trip (``round_trips``
counts them; after a server restart or ``SCRIPT FLUSH`` the first call also
sends the script once, counted too). Semantics are those of
``gateway.signals.memory`` exactly, expiry included: expiries are judged on
the ``now`` given to ``exchange``, never on Redis's clock, and every number
crosses the wire as Python's shortest exact ``repr`` so both backends compare
the same doubles (the script does its arithmetic on those doubles and writes
results back with ``%.17g``, which round-trips exactly). Each key also gets a
real ``PEXPIRE`` of its ttl plus a minute, so Redis drops it by itself.

Keys: ``"<entity>#<field>"`` -> ``<prefix>:{<entity>}:<field>``.

- Distinct: a sorted set member -> ts (``ZADD GT``, trimmed by rank to
  ``cap``, ``ZCOUNT`` per window). The key's age is its newest score.
- Append: a list ``[expiry, newest, ..., oldest]``, values tagged
  ``f<float repr>`` or ``s<str>``.
- Put / PutIfAbsent / Incr: a string ``"<expiry>|<value>"``.

URLs: ``redis://``, ``rediss://`` (TLS; certificate options as URL query
parameters, e.g. ``?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem``) and
``unix://``; options such as ``db``, ``username`` and ``password`` as
redis-py's ``from_url`` reads them. Redis Cluster is not driven by this
module: keys already carry hash tags, but one script touching several
entities spans several slots.

Failure is first-class: no retries, connect and read timeouts of
``state.timeout_ms``, the whole exchange bounded by the same timeout, and a
circuit breaker (``state.breaker_failures`` consecutive failures open it for
``state.breaker_reset_s``, then one request probes). While Redis fails or the
breaker is open, the local fallback ``MemoryStore`` answers and the result is
marked ``degraded``; nothing is raised to the caller.
"""

from __future__ import annotations

import asyncio
import functools
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

# ARGV[1] is now; then per op (KEYS[i]) a kind letter and its fields, see _encode.
_SCRIPT = r"""
local now = tonumber(ARGV[1])
local out = {}
local p = 2
local find, sub, fmt = string.find, string.sub, string.format
-- %.17g round-trips every double exactly, so Lua-made bounds equal Python's
local function exact(x) return fmt('%.17g', x) end

local function live_string(k)
  local v = redis.pcall('GET', k)
  if type(v) ~= 'string' then return nil end
  local bar = find(v, '|', 1, true)
  if bar and tonumber(sub(v, 1, bar - 1)) > now then return v, bar end
  return nil
end

for i = 1, #KEYS do
  local k = KEYS[i]
  local kind = ARGV[p]
  if kind == 'D' then
    local member, ts, ttl, ms, cap, nwin = ARGV[p+1], ARGV[p+2], tonumber(ARGV[p+3]), ARGV[p+4], tonumber(ARGV[p+5]), tonumber(ARGV[p+6])
    if ts == '' then ts = ARGV[1] end
    local tsn = tonumber(ts)
    local top = redis.pcall('ZRANGE', k, -1, -1, 'WITHSCORES')
    if type(top) ~= 'table' or top.err or (top[2] and not (tonumber(top[2]) + ttl > now)) then
      redis.call('DEL', k)
    end
    local counts = {}
    if cap < 1 then
      redis.call('DEL', k)
      for w = 1, nwin do counts[w] = 0 end
    else
      redis.call('ZADD', k, 'GT', ts, member)
      redis.call('ZREMRANGEBYRANK', k, 0, -cap - 1)
      for w = 1, nwin do counts[w] = redis.call('ZCOUNT', k, '(' .. exact(tsn - tonumber(ARGV[p+6+w])), ts) end
      redis.call('PEXPIRE', k, ms)
    end
    out[i] = counts
    p = p + 7 + nwin
  elseif kind == 'A' then
    -- the list is [expiry, newest, ..., oldest]
    local value, expiry, ms, maxlen = ARGV[p+1], exact(now + tonumber(ARGV[p+2])), ARGV[p+3], tonumber(ARGV[p+4])
    local held = redis.pcall('LRANGE', k, 0, maxlen)
    local alive = type(held) == 'table' and not held.err and held[1] and tonumber(held[1]) > now
    if maxlen < 1 then
      redis.call('DEL', k)
    elseif alive then
      redis.call('LSET', k, 0, value)
      redis.call('LPUSH', k, expiry)
      redis.call('LTRIM', k, 0, maxlen)
      redis.call('PEXPIRE', k, ms)
    else
      redis.call('DEL', k)
      redis.call('RPUSH', k, expiry, value)
      redis.call('PEXPIRE', k, ms)
    end
    out[i] = alive and held or {}
    p = p + 5
  elseif kind == 'G' then
    local v, bar = live_string(k)
    out[i] = v and sub(v, bar + 1) or false
    p = p + 1
  elseif kind == 'P' then
    redis.call('SET', k, exact(now + tonumber(ARGV[p+2])) .. '|' .. ARGV[p+1], 'PX', ARGV[p+3])
    out[i] = false
    p = p + 4
  elseif kind == 'N' then
    local v, bar = live_string(k)
    if v then
      out[i] = sub(v, bar + 1)
    else
      redis.call('SET', k, exact(now + tonumber(ARGV[p+2])) .. '|' .. ARGV[p+1], 'PX', ARGV[p+3])
      out[i] = false
    end
    p = p + 4
  elseif kind == 'C' then
    local amount, expiry, ms = tonumber(ARGV[p+1]), exact(now + tonumber(ARGV[p+2])), ARGV[p+3]
    local v, bar = live_string(k)
    local n
    if v then
      local current = sub(v, bar + 1)
      n = (string.match(current, '^%-?%d+$') and tonumber(current) or 0) + amount
      redis.call('SET', k, sub(v, 1, bar) .. string.format('%d', n), 'KEEPTTL')
    else
      n = amount
      redis.call('SET', k, expiry .. '|' .. string.format('%d', n), 'PX', ms)
    end
    out[i] = n
    p = p + 4
  else
    return redis.error_reply('unknown op kind ' .. tostring(kind))
  end
end
return out
"""

_KIND = {Distinct: "D", Append: "A", Get: "G", Put: "P", PutIfAbsent: "N", Incr: "C"}


@functools.lru_cache(maxsize=256)
def _number(value: float) -> str:
    """A ttl or window as the exact shortest text of its double."""
    return repr(float(value))


@functools.lru_cache(maxsize=256)
def _real_ms(ttl: float) -> int:
    return max(1, math.ceil(ttl * 1000)) + _REAL_EXPIRY_MARGIN_MS


def _tag(value: str | float) -> str:
    return "s" + value if type(value) is str else "f" + repr(float(value))


def _untag(raw: bytes) -> str | float:
    text = raw.decode()
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
        self._keys: dict[str, str] = {}  # small cache of mapped keys, cleared when full

    @property
    def degraded(self) -> bool:
        """True while the breaker keeps requests on the local fallback."""
        return self.breaker.state != CLOSED

    def redis_key(self, key: str) -> str:
        """``"<entity>#<field>"`` -> ``"<prefix>:{<entity>}:<field>"``."""
        mapped = self._keys.get(key)
        if mapped is None:
            entity, _, field = key.partition("#")
            mapped = f"{self.prefix}:{{{entity}}}:{field}"
            if len(self._keys) >= 4096:
                self._keys.clear()
            self._keys[key] = mapped
        return mapped

    async def exchange(self, ops: list[Op], now: float) -> BatchResult:
        if not ops:
            return BatchResult([])
        if not self.breaker.allow():
            return self._degrade(ops, now)
        try:
            replies = await asyncio.wait_for(self._run(ops, now), self.timeout_s)
            values = self._decode(ops, replies)
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
        keys, args = self._encode(ops, now)
        if self._sha is not None:
            self.round_trips += 1
            try:
                return await self._client.evalsha(self._sha, len(keys), *keys, *args)
            except NoScriptError:
                self._sha = None  # the server restarted or flushed its scripts: resend once
        self.round_trips += 1
        replies = await self._client.eval(_SCRIPT, len(keys), *keys, *args)
        self._sha = _SCRIPT_SHA
        return replies

    def _encode(self, ops: list[Op], now: float) -> tuple[list[str], list[str | int]]:
        # Only the op's own values are formatted here; expiries and window
        # bounds are computed by the script from now, ttl and window.
        keys: list[str] = []
        args: list[str | int] = [repr(float(now))]
        mapped, real_ms, number = self._keys, _real_ms, _number
        for op in ops:
            key = mapped.get(op.key) or self.redis_key(op.key)
            keys.append(key)
            kind = _KIND[type(op)]
            if kind == "D":
                ts = op.ts
                args += ("D", op.member, "" if ts == now else repr(float(ts)), number(op.ttl),
                         real_ms(op.ttl), op.cap, len(op.windows))
                args += [number(window) for window in op.windows]
            elif kind == "A":
                args += ("A", _tag(op.value), number(op.ttl), real_ms(op.ttl), op.maxlen)
            elif kind == "G":
                args.append("G")
            elif kind == "C":
                args += ("C", int(op.amount), number(op.ttl), real_ms(op.ttl))
            else:
                args += (kind, op.value, number(op.ttl), real_ms(op.ttl))
        return keys, args

    @staticmethod
    def _decode(ops: list[Op], replies: list) -> list:
        if len(replies) != len(ops):
            raise ValueError(f"state script answered {len(replies)} results for {len(ops)} ops")
        values: list = []
        for op, reply in zip(ops, replies, strict=True):
            kind = type(op)
            if kind is Distinct:
                values.append(tuple(reply))
            elif kind is Append:
                values.append([_untag(raw) for raw in reply[1 : op.maxlen + 1]])
            elif kind is Incr:
                values.append(int(reply))
            else:
                values.append(None if reply is None else reply.decode())
        return values


def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()


_SCRIPT_SHA = _sha1(_SCRIPT)
