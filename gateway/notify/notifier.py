"""The notifier: from a verdict to the owner's event, the session's revocation and the removal list.

``observe`` runs on the request path and only appends to bounded queues:
an allowed action (for the removal index) or a block-grade stop (a job). The
background task drains both: it writes the index, then per job calls the
identity provider's revocation endpoint (revocations), signs a CAEP SET, and,
once per account and event type a day (debounce), builds the CloudEvent with
the session's allowed actions of the last day and the owner's signed answer
links, and hands it to every sink's outbox.

Block-grade evidence: an enforced, non-sticky block decided by a rule (not a
risk threshold) whose reason is third_party_app or token_misuse, and every
revocation.

``inline=True`` (replay): no task, no sinks; each event is built at once on
the virtual clock and kept in ``events`` (``gateway replay --removals``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from typing import Any

import httpx

from gateway.auth.principal import Principal
from gateway.facts import RequestFacts
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.messages.families import THIRD_PARTY_APP, TOKEN_MISUSE
from gateway.metrics import NOTIFY_DROPS, NOTIFY_EVENTS, REVOCATIONS
from gateway.notify.config_secret import secret
from gateway.notify.events import DETECTED, REVOKED, cloud_event
from gateway.notify.links import link_signer_or_none
from gateway.notify.outbox import Outbox
from gateway.notify.removals import Done, MemoryRemovals, RedisRemovals
from gateway.settings import Notify, Settings
from gateway.state.store import StateStore, Stick
from gateway.tasks import cancel, on_each_wake
from gateway.verdict import Decision, Verdict

logger = logging.getLogger("gateway.notify")
EVENT_REASONS = frozenset({THIRD_PARTY_APP, TOKEN_MISUSE})
_DONE_MAX = 10_000  # allowed actions waiting for the index writer
_DEBOUNCE_MAX = 100_000  # accounts remembered for the in-process debounce


class Notifier:
    def __init__(self, settings: Settings, store: StateStore | None = None, *, inline: bool = False) -> None:
        n = self.cfg = settings.notify
        self.settings = settings
        self.store = store
        self.inline = inline
        self.links = link_signer_or_none(n)
        self.events: list[dict[str, Any]] = []  # inline: every event built
        self.outboxes: list[Outbox] = []  # the event sinks
        self.caep: Outbox | None = None
        self.revocation: Outbox | None = None
        self._signer = None
        self._http: httpx.AsyncClient | None = None
        self._closers: list[Any] = []
        shared = settings.state.backend == "redis" and not inline
        self._redis: RedisRemovals | None = None
        if shared:
            self._redis = RedisRemovals(settings.state.url, settings.state.prefix, n.removals_max, n.removals_window_s)
            self.removals: Any = self._redis
        else:
            self.removals = MemoryRemovals(n.removals_max, n.removals_sessions)
        self._jobs: deque[dict[str, Any]] = deque()
        self.dropped_jobs = 0  # stops past queue_size waiting for the task: counted, never blocking
        self._done: deque[Done] = deque()
        self._debounced: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._writes: set[asyncio.Task] = set()
        if not inline:
            self._build_sinks(n)
        # the index is kept only where an event can carry it
        self.indexing = inline or bool(self.outboxes)

    @classmethod
    def from_settings(cls, settings: Settings, store: StateStore) -> Notifier | None:
        """The configured notifier, or None when nothing is configured to receive anything."""
        n = settings.notify
        if not (n.webhook.url or n.stream.url or n.caep.push_url or n.revocation.endpoint):
            return None
        return cls(settings, store)

    def _build_sinks(self, n: Notify) -> None:
        self._http = httpx.AsyncClient(follow_redirects=False)
        if n.webhook.url:
            from gateway.notify.senders import WebhookSender

            key = secret(n.webhook.secret, n.webhook.secret_env, "notify.webhook.secret")
            sender = WebhookSender(self._http, n.webhook.url, key, n.webhook.timeout_s)
            self.outboxes.append(Outbox("webhook", sender, n.queue_size, n.webhook.attempts, n.webhook.backoff_s,
                                        self.settings.resolve(n.webhook.dead_letter)))
        if n.stream.url:
            from gateway.notify.senders import StreamSender

            stream = StreamSender(n.stream.url, n.stream.stream, n.stream.maxlen)
            self._closers.append(stream)
            self.outboxes.append(Outbox("stream", stream, n.queue_size, n.webhook.attempts, n.webhook.backoff_s,
                                        self.settings.resolve(n.webhook.dead_letter)))
        if n.caep.push_url and n.caep.signing_key:
            from gateway.notify.caep import SetSigner
            from gateway.notify.senders import SetSender

            self._signer = SetSigner(n.caep, self.settings.resolve(n.caep.signing_key) or "")
            self.caep = Outbox("caep", SetSender(self._http, n.caep.push_url, n.webhook.timeout_s), n.queue_size,
                               n.webhook.attempts, n.webhook.backoff_s, self.settings.resolve(n.webhook.dead_letter))
        r = n.revocation
        if r.endpoint and r.client_id:
            from gateway.notify.senders import RevocationSender

            key = secret(r.client_secret, r.client_secret_env, "notify.revocation.client_secret")
            self.revocation = Outbox("revocation", RevocationSender(self._http, r.endpoint, r.client_id, key, r.timeout_s),
                                     n.queue_size, r.attempts, n.webhook.backoff_s, None,
                                     redact=lambda item: {"session": item.get("session")})  # never a token on disk

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        if self.inline or self._task is not None:
            return
        self._wake = asyncio.Event()
        for box in self._boxes():
            box.start()
        self._task = asyncio.create_task(self._run(), name="gateway-notifier")

    async def close(self) -> None:
        if self._task is not None:
            try:  # what was observed before shutdown is still handed to the outboxes
                await asyncio.wait_for(self._drain_jobs(), timeout=2.0)
            except Exception:  # noqa: BLE001
                logger.exception("notifier: jobs left at shutdown")
            task, self._task = self._task, None
            await cancel(task)
        for task in list(self._writes):
            await asyncio.gather(task, return_exceptions=True)
        for box in self._boxes():
            await box.close()
        for closer in self._closers:
            await closer.close()
        if self._redis is not None:
            await self._redis.close()
        if self._http is not None:
            await self._http.aclose()

    def _boxes(self) -> list[Outbox]:
        return [b for b in (*self.outboxes, self.caep, self.revocation) if b is not None]

    async def settle(self, timeout: float = 10.0) -> bool:
        """Wait until every job is handled and every outbox empty (tests, a graceful stop)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while (self._jobs or self._done or self._writes) and loop.time() < end:
            await asyncio.sleep(0.02)
        for box in self._boxes():
            if not await box.drain(max(0.0, end - loop.time())):
                return False
        return not self._jobs

    # -- the request path: O(1) ---------------------------------------------------
    def observe(self, facts: RequestFacts, verdict: Verdict, principal: Principal, fp: Fingerprint) -> None:
        if verdict.passes:
            if self.indexing and facts.action is not None:
                entry = (principal.session_id, facts.ts, facts.action, facts.target, verdict.decision_id)
                if self.inline:
                    self.removals.add_now([entry])
                elif len(self._done) < _DONE_MAX:
                    self._done.append(entry)
                    self._poke()
                else:
                    NOTIFY_DROPS.labels(sink="removals").inc()
            return
        if verdict.sticky or not verdict.enforced or verdict.decision is not Decision.BLOCK:
            return
        decided_by = verdict.decided_by
        if not verdict.revoke and (verdict.reason not in EVENT_REASONS or decided_by is None
                                   or decided_by.startswith("threshold:")):
            return
        job = _job(facts, verdict, principal, fp)
        if self.inline:
            self._handle_inline(job)
        elif len(self._jobs) < self.cfg.queue_size:
            self._jobs.append(job)
            self._poke()
        else:
            self.dropped_jobs += 1
            NOTIFY_DROPS.labels(sink="jobs").inc()

    def revoke_now(self, stick: Stick, now: float) -> bool:
        """Write a revocation to the shared state at once (off the request path); False: defer it instead."""
        REVOCATIONS.inc()
        if self.inline or self.store is None:
            return False
        task = asyncio.get_running_loop().create_task(self.store.exchange([stick], now))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return True

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.is_set():
            wake.set()

    # -- the background task ------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None  # a sink's or the index's fault must not stop the task
        await on_each_wake(self._wake, self._drain_jobs, logger, "notifier: a job failed")

    async def _drain_jobs(self) -> None:
        await self._flush_index()
        while self._jobs:
            job = self._jobs.popleft()
            await self._flush_index()
            try:
                await self._handle(job)
            except Exception:
                logger.exception("notifier: the event for session %s failed", job["session"])

    async def _flush_index(self) -> None:
        if not self._done:
            return
        entries = list(self._done)
        self._done.clear()
        try:
            await self.removals.add(entries)
        except Exception as exc:  # noqa: BLE001 - an outage loses index entries, never a request
            NOTIFY_DROPS.labels(sink="removals").inc(len(entries))
            logger.warning("notifier: the removal index could not be written (%s)", exc)

    async def _handle(self, job: dict[str, Any]) -> None:
        now = job["ts"]
        if job["revoke"]:
            if self.revocation is not None and job["token"]:
                self.revocation.put({"token": job["token"], "session": job["session"]})
            if self.caep is not None and self._signer is not None:
                self.caep.put(self._signer.session_revoked(job["account"], job["session"], now,
                                                           "session driven by a credential-sharing app"))
        kind = REVOKED if job["revoke"] else DETECTED
        if not await self.first(job["account"], kind, now):
            NOTIFY_EVENTS.labels(type=kind, outcome="debounced").inc()
            return
        removals = await self.removals.recent(job["session"], now - self.cfg.removals_window_s)
        event = self._event(kind, job, removals)
        for box in self.outboxes:
            box.put(event)
        NOTIFY_EVENTS.labels(type=kind, outcome="sent").inc()

    def _handle_inline(self, job: dict[str, Any]) -> None:
        now = job["ts"]
        kind = REVOKED if job["revoke"] else DETECTED
        if not self._first_local(job["account"], kind, now, self.cfg.debounce_s):
            return
        removals = self.removals.recent_now(job["session"], now - self.cfg.removals_window_s)
        self.events.append(self._event(kind, job, removals))

    async def first(self, account: str, kind: str, now: float, ttl_s: float | None = None) -> bool:
        """True for the first ``kind`` on ``account`` in ``ttl_s`` (the debounce by default), on every replica."""
        ttl_s = self.cfg.debounce_s if ttl_s is None else ttl_s
        if not self._first_local(account, kind, now, ttl_s):
            return False
        if self._redis is not None:  # every replica shares the debounce
            try:
                return await self._redis.first_today(account, kind, ttl_s)
            except Exception as exc:  # noqa: BLE001 - without Redis, this replica's own memory decides
                logger.warning("notifier: shared debounce unavailable (%s)", exc)
        return True

    def _first_local(self, account: str, kind: str, now: float, ttl_s: float) -> bool:
        key = (account, kind)
        last = self._debounced.get(key)
        if last is not None and now - last < ttl_s:
            return False
        self._debounced[key] = now
        self._debounced.move_to_end(key)
        if len(self._debounced) > _DEBOUNCE_MAX:
            self._debounced.popitem(last=False)
        return True

    def _event(self, kind: str, job: dict[str, Any], removals: list[dict[str, object]]) -> dict[str, Any]:
        data = {
            "account": job["account"], "session": job["session"], "client_id": job["client_id"],
            "revoked": job["revoke"],
            "network": job["network"], "device": job["device"],
            "evidence": job["evidence"], "decision_ids": [job["decision_id"]],
            "removals": removals,
        }
        if self.links is not None:
            data["links"] = self.links.links(job["account"], job["session"], job["client_id"], [job["decision_id"]],
                                             job["rule"], job["ts"])
        return cloud_event(kind, self.cfg.source, job["ts"], f"account/{job['account']}", data)


def _job(facts: RequestFacts, verdict: Verdict, principal: Principal, fp: Fingerprint) -> dict[str, Any]:
    auth = facts.headers.get("authorization") or ""
    scheme, _, token = auth.partition(" ")
    return {
        "ts": facts.ts, "account": principal.subject, "session": principal.session_id,
        "client_id": principal.client_id, "revoke": verdict.revoke, "decision_id": verdict.decision_id,
        "rule": verdict.decided_by or "",
        "token": token.strip() if scheme.lower() in ("bearer", "dpop") else None,
        "network": {"ip": fp.ip, "net_class": fp.net_class, "asn": fp.asn, "country": fp.country},
        "device": {"id": fp.device_id or principal.device_id, "user_agent": fp.user_agent[:300] if fp.user_agent else None,
                   "tls": fp.tls},
        # for the platform only, never the client: which rules, and why
        "evidence": {"rules": list(verdict.rules), "reason": verdict.reason, "explain": verdict.explain[:1000]},
    }
