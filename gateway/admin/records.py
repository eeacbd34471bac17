"""What operations read: recent decisions, sticky decisions written, exceptions, rule counts, the facts ring.

All of it lives on the state backend (gateway.signals.lists), so the admin
app finds every replica's decisions: memory for one process, Redis for
replicas. Everything is bounded: ``admin.per_key`` decisions per account,
session, IP and device (memory: ``admin.keys`` keys), a fixed number of
recent decisions, sticky notes and exceptions, ``admin.facts_ring`` request
facts, and rule counts in five-minute buckets for a day.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from gateway.settings import Settings
from gateway.signals.lists import MemoryLists, RedisLists
from gateway.state.keys import entity_key, safe

BUCKET_S = 300  # rule counts are kept in five-minute buckets
DAY_BUCKETS = 288
RECENT_MAX = 500  # decisions in the live view
STICKY_MAX = 20  # sticky notes kept per entity and per account
EXCEPTIONS_MAX = 1000  # exception grants and revocations kept
INDEXED = ("account", "session", "ip", "device")  # what decisions are found by
GLOBAL = "admin"  # the hash tag of the lists that are not one entity's
class AdminRecords:
    def __init__(self, settings: Settings) -> None:
        a = settings.admin
        self.redis = None
        self.keep_s = a.keep_s
        if settings.state.backend == "redis":
            import redis.asyncio as aioredis

            self.redis = client = aioredis.Redis.from_url(settings.state.url, socket_timeout=2.0,
                                                          socket_connect_timeout=2.0)
            prefix = settings.state.prefix
            self._prefix = prefix
            self.by_entity: Any = RedisLists(client, prefix, "decisions", a.per_key, a.keep_s)
            self.recent_list: Any = RedisLists(client, prefix, "recent", RECENT_MAX, a.keep_s)
            self.facts_list: Any = RedisLists(client, prefix, "facts", max(1, a.facts_ring), a.keep_s)
            self.sticky_list: Any = RedisLists(client, prefix, "sticky", STICKY_MAX, 31 * 86400)
            self.exception_list: Any = RedisLists(client, prefix, "exceptions", EXCEPTIONS_MAX, 366 * 86400)
        else:
            self.by_entity = MemoryLists(a.per_key, a.keys)
            self.recent_list = MemoryLists(RECENT_MAX, 1)
            self.facts_list = MemoryLists(max(1, a.facts_ring), 1)
            self.sticky_list = MemoryLists(STICKY_MAX, a.keys)
            self.exception_list = MemoryLists(EXCEPTIONS_MAX, 1)
            self._by_id: OrderedDict[str, str] = OrderedDict()
            self._by_id_max = a.keys
            self._buckets: OrderedDict[int, dict[str, int]] = OrderedDict()
        self.facts_ring = a.facts_ring

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    # -- writes (the recorder's task) --------------------------------------------
    async def write(self, decisions: list[dict[str, Any]], facts: list[str], stickies: list[dict[str, Any]],
                    counts: dict[tuple[int, str], int]) -> None:
        """One batch: decisions (indexed by id and by what they name), facts, sticky notes, rule counts."""
        entity_items: list[tuple[str, str]] = []
        recent: list[tuple[str, str]] = []
        ids: list[tuple[str, str]] = []
        for d in decisions:
            text = json.dumps(d)
            ids.append((d["decision_id"], text))
            recent.append((GLOBAL, text))
            for kind in INDEXED:
                value = d.get(kind if kind != "account" else "subject")
                if value:
                    entity_items.append((entity_key(kind, str(value)), text))
        sticky_items = [(k, json.dumps(s)) for s in stickies for k in _sticky_keys(s)]
        fact_items = [(GLOBAL, f) for f in facts] if self.facts_ring else []
        if self.redis is None:
            self.by_entity.add_now(entity_items)
            self.recent_list.add_now(recent)
            self.facts_list.add_now(fact_items)
            self.sticky_list.add_now(sticky_items)
            for decision_id, text in ids:
                self._by_id[decision_id] = text
                if len(self._by_id) > self._by_id_max:
                    self._by_id.popitem(last=False)
            for (bucket, field), n in counts.items():
                b = self._buckets.setdefault(bucket, {})
                b[field] = b.get(field, 0) + n
            while len(self._buckets) > DAY_BUCKETS + 2:
                self._buckets.popitem(last=False)
            return
        pipe = self.redis.pipeline(transaction=False)
        for decision_id, text in ids:
            pipe.set(self._id_key(decision_id), text, ex=max(1, int(self.keep_s)))
        self.by_entity.queue(pipe, entity_items)
        self.recent_list.queue(pipe, recent)
        self.facts_list.queue(pipe, fact_items)
        self.sticky_list.queue(pipe, sticky_items)
        for bucket in {b for b, _ in counts}:
            pipe.expire(self._bucket_key(bucket), 86400 + 2 * BUCKET_S)
        for (bucket, field), n in counts.items():
            pipe.hincrby(self._bucket_key(bucket), field, n)
        await pipe.execute()

    async def note_sticky(self, notes: list[dict[str, Any]]) -> None:
        items = [(k, json.dumps(s)) for s in notes for k in _sticky_keys(s)]
        await self.sticky_list.add(items)

    async def note_exception(self, entry: dict[str, Any]) -> None:
        await self.exception_list.add([(GLOBAL, json.dumps(entry))])

    # -- reads -------------------------------------------------------------------
    async def decision(self, decision_id: str) -> dict[str, Any] | None:
        if self.redis is None:
            text = self._by_id.get(decision_id)
        else:
            raw = await self.redis.get(self._id_key(decision_id))
            text = raw.decode() if raw else None
        return json.loads(text) if text else None

    async def decisions(self, kind: str, value: str, limit: int = 50) -> list[dict[str, Any]]:
        """The recent decisions naming an account, session, IP or device, newest first."""
        return [json.loads(t) if isinstance(t, str) else t
                for t in reversed(await self.by_entity.get(entity_key(kind, value)))][:limit]

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return [json.loads(t) for t in reversed(await self.recent_list.get(GLOBAL))][:limit]

    async def facts(self) -> list[dict[str, Any]]:
        return [json.loads(t) for t in await self.facts_list.get(GLOBAL)]

    async def stickies(self, key: str, now: float) -> list[dict[str, Any]]:
        """The live sticky decisions noted on an entity (``key``) or pinned by an account's decisions (``a:<id>``).

        The newest note per entity wins: a lift or an exception noted after a decision replaces it.
        """
        newest: dict[str, dict[str, Any]] = {}
        for text in await self.sticky_list.get(key):
            note = json.loads(text)
            newest[note["key"]] = note
        live = []
        for k, note in newest.items():
            # an entity pinned by this account may have been lifted since, from another account's page
            if k != key:
                for text in await self.sticky_list.get(k):
                    later = json.loads(text)
                    if later["key"] == k and later.get("at", 0) > note.get("at", 0):
                        note = later
            if note["until"] > now and note["decision"] not in ("lifted",):
                live.append(note)
        return sorted(live, key=lambda n: -n.get("at", 0))

    async def exceptions(self, now: float) -> list[dict[str, Any]]:
        """Live exceptions: the newest grant per entity, unless revoked since or expired."""
        newest: dict[str, dict[str, Any]] = {}
        for text in await self.exception_list.get(GLOBAL):
            entry = json.loads(text)
            newest[entry["key"]] = entry
        return [e for e in newest.values() if e["op"] == "grant" and e["until"] > now]

    async def rule_counts(self, now: float) -> dict[int, dict[str, int]]:
        """bucket -> {"<rule>|<mode>|<hit or stop>": n} for the last day."""
        first = int(now // BUCKET_S) - DAY_BUCKETS + 1
        buckets = range(first, first + DAY_BUCKETS)
        if self.redis is None:
            return {b: dict(self._buckets[b]) for b in buckets if b in self._buckets}
        pipe = self.redis.pipeline(transaction=False)
        for b in buckets:
            pipe.hgetall(self._bucket_key(b))
        out = {}
        for b, raw in zip(buckets, await pipe.execute(), strict=True):
            if raw:
                out[b] = {k.decode(): int(v) for k, v in raw.items()}
        return out

    def _id_key(self, decision_id: str) -> str:
        return f"{self._prefix}:{{d:{safe(decision_id)}}}:decision"

    def _bucket_key(self, bucket: int) -> str:
        return f"{self._prefix}:{{{GLOBAL}}}:rules:{bucket}"


def _sticky_keys(note: dict[str, Any]) -> list[str]:
    """A sticky note is found from its entity and from the account whose decision pinned it."""
    keys = [note["key"]]
    account = note.get("account")
    if account:
        a = entity_key("account", account)
        if a != note["key"]:
            keys.append(a)
    return keys
