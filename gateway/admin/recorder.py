"""From a decision to what operations read later, off the request path.

``observe`` runs on the request path and only appends to a bounded deque
(past ``admin.queue_size`` the decision is dropped and counted). A task
drains it in batches: it builds the decision's record (the log entry, the
values of the features its rules read, the sticky decisions it pinned), the
request's facts for the ring (no token, no cookie: the verified principal
instead) and the rule counts, and writes them in one pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from gateway.admin.records import BUCKET_S, AdminRecords
from gateway.auth.principal import Principal
from gateway.metrics import ADMIN_RECORD_DROPS
from gateway.state.keys import Pin, scope_of
from gateway.tasks import cancel, on_each_wake
from gateway.verdict import Decision

logger = logging.getLogger("gateway.admin")
SECRET_HEADERS = frozenset({"authorization", "dpop", "cookie", "set-cookie", "proxy-authorization",
                            "x-gateway-secret"})
PASSING = frozenset({Decision.ALLOW, Decision.LOG, Decision.UNAUTHENTICATED})
_BATCH = 256


def facts_dict(facts: Any, principal: Principal) -> dict[str, Any]:
    """What replay needs of a request: its facts without secrets, and the verified token without the token."""
    return {"ts": facts.ts, "method": facts.method, "path": facts.path, "peer": facts.peer, "query": facts.query,
            "headers": {k: v for k, v in facts.headers.items() if k not in SECRET_HEADERS},
            "action": facts.action, "target": facts.target, "principal": principal.to_dict()}


class Recorder:
    def __init__(self, engine: Any, records: AdminRecords) -> None:
        self.engine = engine
        self.records = records
        self._queue: deque[tuple[Any, Any, Any]] = deque()
        self._max = engine.settings.admin.queue_size
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def observe(self, facts: Any, verdict: Any, context: Any) -> None:
        """On the request path: O(1), never blocks."""
        if len(self._queue) >= self._max:
            ADMIN_RECORD_DROPS.inc()
            return
        self._queue.append((facts, verdict, context))
        if self._wake is not None and not self._wake.is_set():
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="gateway-admin-recorder")

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), timeout=2.0)
            await cancel(self._task)
            self._task = None
        await self.records.close()

    async def _run(self) -> None:
        assert self._wake is not None  # the index is best effort; the request path never waits on it
        await on_each_wake(self._wake, self.flush, logger, "admin recorder: a batch was not written", pause_s=1.0)

    async def flush(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            await self.records.write(*self._build(batch))

    def _build(self, batch: list[tuple[Any, Any, Any]]):
        engine = self.engine
        by_id = {r.id: r for r in engine.rules.current.rules}
        decisions, facts, stickies = [], [], []
        counts: dict[tuple[int, str], int] = {}
        for f, v, context in batch:
            principal, fp, features = context if context else (None, None, None)
            entry = engine._log_entry(f, v, (principal, fp) if context else None)
            entry["device"] = (fp.device_id if fp else None) or (principal.device_id if principal else None)
            entry["path"] = f.path
            entry["prefix"] = fp.prefix if fp is not None and hasattr(fp, "prefix") else None
            if features:
                names = {n for rid in (*v.rules, *v.shadow_rules) if (r := by_id.get(rid)) is not None
                         for n in r.condition.features}
                names.update(n for n, _ in v.top_features)
                entry["matched_features"] = {n: _plain(features.get(n)) for n in sorted(names)}
            for key, record, until in v.stuck or ():
                pin = Pin.parse(record)
                stickies.append({"key": key, "scope": scope_of(key), "decision": pin.decision, "rule": pin.rule,
                                 "until": until, "account": entry["subject"], "decision_id": v.decision_id,
                                 "at": f.ts, "by": "rule"})
            decisions.append(entry)
            if principal is not None and self.records.facts_ring:
                facts.append(json.dumps(facts_dict(f, principal)))
            if not v.sticky and v.decision is not Decision.UNAUTHENTICATED:
                bucket = int(f.ts // BUCKET_S)
                stop = v.decision not in PASSING
                mode = "enforce" if v.enforced else "shadow"
                for rid in v.rules:
                    _add(counts, bucket, f"{rid}|{mode}|hit")
                    if stop and rid == v.decided_by:  # the stop is the deciding rule's, not its weighted companions'
                        _add(counts, bucket, f"{rid}|{mode}|stop")
                for rid in v.shadow_rules:
                    _add(counts, bucket, f"{rid}|shadow|hit")
                    r = by_id.get(rid)
                    if r is not None and (r.action is not None and r.action not in PASSING or r.revoke):
                        _add(counts, bucket, f"{rid}|shadow|stop")
        return decisions, facts, stickies, counts


def _add(counts: dict[tuple[int, str], int], bucket: int, field: str) -> None:
    counts[bucket, field] = counts.get((bucket, field), 0) + 1


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value][:20]
    return str(value)
