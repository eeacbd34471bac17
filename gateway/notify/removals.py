"""What a session did that was allowed at the time: the list an event hands over for removal.

Written off the request path (the notifier's task drains a bounded queue).
Memory: a bounded in-process map of session -> the last ``keep`` actions,
least recently written sessions dropped past ``sessions``. Redis: one capped
list per session (RPUSH, LTRIM, EXPIRE in one pipeline, no script), under the
session's own hash tag ``<prefix>:{s:<session>}:done``, so every replica adds
to and reads the same list.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from typing import Protocol

from gateway.signals.collector import safe
from gateway.signals.store import SESSION_PREFIX

Done = tuple[str, float, str, str | None, str]  # session, ts, action, target, decision id


def as_dict(entry: Done) -> dict[str, object]:
    _, ts, action, target, decision_id = entry
    return {"decision_id": decision_id, "ts": ts, "action": action, "target": target}


class Removals(Protocol):
    async def add(self, entries: list[Done]) -> None: ...
    async def recent(self, session: str, since: float) -> list[dict[str, object]]: ...
    async def close(self) -> None: ...


class MemoryRemovals:
    def __init__(self, keep: int, sessions: int) -> None:
        self._keep = keep
        self._sessions = sessions
        self._by_session: OrderedDict[str, deque[Done]] = OrderedDict()

    def add_now(self, entries: list[Done]) -> None:
        by = self._by_session
        for entry in entries:
            done = by.get(entry[0])
            if done is None:
                done = by[entry[0]] = deque(maxlen=self._keep)
                if len(by) > self._sessions:
                    by.popitem(last=False)
            else:
                by.move_to_end(entry[0])
            done.append(entry)

    def recent_now(self, session: str, since: float) -> list[dict[str, object]]:
        return [as_dict(e) for e in self._by_session.get(session, ()) if e[1] > since]

    async def add(self, entries: list[Done]) -> None:
        self.add_now(entries)

    async def recent(self, session: str, since: float) -> list[dict[str, object]]:
        return self.recent_now(session, since)

    async def close(self) -> None:
        pass


class RedisRemovals:
    def __init__(self, url: str, prefix: str, keep: int, ttl_s: float, timeout_s: float = 2.0) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._prefix = prefix
        self._keep = keep
        self._ttl = max(1, int(ttl_s))

    def key(self, session: str) -> str:
        return f"{self._prefix}:{{{SESSION_PREFIX}{safe(session)}}}:done"

    async def add(self, entries: list[Done]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for entry in entries:
            key = self.key(entry[0])
            pipe.rpush(key, json.dumps(entry[1:]))
            pipe.ltrim(key, -self._keep, -1)
            pipe.expire(key, self._ttl)
        await pipe.execute()

    async def recent(self, session: str, since: float) -> list[dict[str, object]]:
        out = []
        for raw in await self._client.lrange(self.key(session), 0, -1):
            ts, action, target, decision_id = json.loads(raw)
            if ts > since:
                out.append(as_dict((session, ts, action, target, decision_id)))
        return out

    async def first_today(self, account: str, kind: str, ttl_s: float) -> bool:
        """Debounce shared by every replica: True for the first of ``kind`` on ``account`` in ``ttl_s``."""
        key = f"{self._prefix}:{{a:{safe(account)}}}:notified:{kind}"
        return bool(await self._client.set(key, "1", nx=True, ex=max(1, int(ttl_s))))

    async def close(self) -> None:
        await self._client.aclose()
