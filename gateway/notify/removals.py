"""What a session did that was allowed at the time: the list an event hands over for removal.

Written off the request path (the notifier's task drains a bounded queue)
into the bounded per-entity lists of gateway.signals.lists: memory, the last
``keep`` actions of at most ``sessions`` sessions; Redis, one capped list per
session under its own hash tag ``<prefix>:{s:<session>}:done``, so every
replica adds to and reads the same list.
"""

from __future__ import annotations

import json

from gateway.signals.lists import MemoryLists, RedisLists
from gateway.state.keys import SESSION_PREFIX, safe

Done = tuple[str, float, str, str | None, str]  # session, ts, action, target, decision id


def as_dict(entry: Done) -> dict[str, object]:
    _, ts, action, target, decision_id = entry
    return {"decision_id": decision_id, "ts": ts, "action": action, "target": target}


class MemoryRemovals:
    def __init__(self, keep: int, sessions: int) -> None:
        self._lists = MemoryLists(keep, sessions)

    def add_now(self, entries: list[Done]) -> None:
        self._lists.add_now([(entry[0], entry) for entry in entries])

    def recent_now(self, session: str, since: float) -> list[dict[str, object]]:
        return [as_dict(e) for e in self._lists.get_now(session) if e[1] > since]

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
        self._lists = RedisLists(self._client, prefix, "done", keep, ttl_s)

    def key(self, session: str) -> str:
        return self._lists.key(SESSION_PREFIX + safe(session))

    async def add(self, entries: list[Done]) -> None:
        await self._lists.add([(SESSION_PREFIX + safe(e[0]), json.dumps(e[1:])) for e in entries])

    async def recent(self, session: str, since: float) -> list[dict[str, object]]:
        out = []
        for raw in await self._lists.get(SESSION_PREFIX + safe(session)):
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
