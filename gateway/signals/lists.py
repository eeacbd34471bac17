"""Bounded per-entity lists on the state backend, written off the request path.

What the gateway keeps *about* requests for people to read later (a
session's allowed actions for removal, an account's recent decisions, the
facts ring) is a list per entity key, newest last, capped at ``keep``.
Memory: an in-process map of key -> deque, least recently written keys
dropped past ``keys``. Redis: one list per key (RPUSH, LTRIM, EXPIRE in one
pipeline, no script) under the entity's own hash tag,
``<prefix>:{<key>}:<suffix>``, so every replica adds to and reads the same list.
Values are JSON texts on Redis; in memory any value is kept as given.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any


class MemoryLists:
    def __init__(self, keep: int, keys: int) -> None:
        self.keep = keep
        self._keys = keys
        self._lists: OrderedDict[str, deque[Any]] = OrderedDict()

    def add_now(self, items: list[tuple[str, Any]]) -> None:
        lists = self._lists
        for key, value in items:
            values = lists.get(key)
            if values is None:
                values = lists[key] = deque(maxlen=self.keep)
                if len(lists) > self._keys:
                    lists.popitem(last=False)
            else:
                lists.move_to_end(key)
            values.append(value)

    def get_now(self, key: str) -> list[Any]:
        return list(self._lists.get(key, ()))

    def drop_now(self, key: str) -> None:
        self._lists.pop(key, None)

    async def add(self, items: list[tuple[str, Any]]) -> None:
        self.add_now(items)

    async def get(self, key: str) -> list[Any]:
        return self.get_now(key)

    async def drop(self, key: str) -> None:
        self.drop_now(key)


class RedisLists:
    """``client`` is a redis.asyncio client (shared: one connection pool for all of a process's lists)."""

    def __init__(self, client: Any, prefix: str, suffix: str, keep: int, ttl_s: float) -> None:
        self.client = client
        self.keep = keep
        self._prefix = prefix
        self._suffix = suffix
        self._ttl = max(1, int(ttl_s))

    def key(self, key: str) -> str:
        return f"{self._prefix}:{{{key}}}:{self._suffix}"

    def queue(self, pipe: Any, items: list[tuple[str, str]]) -> None:
        """Queue the writes of ``items`` on ``pipe`` (a pipeline shared with other lists' writes)."""
        for key, value in items:
            k = self.key(key)
            pipe.rpush(k, value)
            pipe.ltrim(k, -self.keep, -1)
            pipe.expire(k, self._ttl)

    async def add(self, items: list[tuple[str, str]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        self.queue(pipe, items)
        await pipe.execute()

    async def get(self, key: str) -> list[str]:
        return [raw.decode() if isinstance(raw, bytes) else raw for raw in await self.client.lrange(self.key(key), 0, -1)]

    async def drop(self, key: str) -> None:
        await self.client.delete(self.key(key))
