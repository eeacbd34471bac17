"""The engine: request facts in, verdict out. Knows nothing of ASGI, files or sockets.

Per protected request: authenticate the token, fingerprint the request, make
ONE state-store call for every signal (plus sticky decisions), add the model's
score, evaluate the rules, and explain. Every front door (middleware, replay,
forward-auth, reverse proxy) calls this same code, so what a security engineer
backtests is exactly what runs in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable
from functools import partial

from gateway.auth import Authenticator, AuthError
from gateway.auth.principal import Principal
from gateway.decision_log import DecisionLog
from gateway.doctor import build_report, log_report
from gateway.facts import RequestFacts
from gateway.fingerprint import Fingerprinter
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.messages.catalogue import load_catalogue
from gateway.messages.families import DEFAULT_REASON, REVOKED
from gateway.metrics import DECISION_SECONDS, DEGRADED, REQUESTS, STICKY_REPEATS
from gateway.policy import RuleSet, RuleSetWatcher
from gateway.routes import Match, RouteTable
from gateway.settings import Settings
from gateway.signals.collector import EVERYTHING, Demand, Plan, SignalCollector
from gateway.state.keys import Pin
from gateway.state.memory import MemoryStore
from gateway.state.store import StateStore, Stick
from gateway.verdict import RANK, Decision, Verdict

logger = logging.getLogger("gateway.engine")
Context = tuple[Principal | None, Fingerprint, dict | None]  # who, from where, the feature values (None: refused)

REVOKE = "revoke"  # the sticky decision of a revoked session
REVOKED_DESCRIPTION = "the session was revoked; sign in again"

MAX_TOKEN_RESPONSE = 64 * 1024  # a token response longer than this is not read (front doors buffer no more)
FAULT_EXPLAIN = "engine fault: passed"  # a decision the engine could not make (logged), passed


def make_store(settings: Settings) -> StateStore:
    """The configured state store; Redis always carries a local memory fallback."""
    local = MemoryStore(max_keys=settings.state.max_keys)
    if settings.state.backend == "redis":
        from gateway.state.redis_store import RedisStore

        return RedisStore(settings.state, fallback=local)
    return local


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        store: StateStore | None = None,
        clock: Callable[[], float] | None = None,
        rules: RuleSet | None = None,
        record_features: bool = False,
        decision_log: bool = True,
        metrics: bool = True,
        notifier=None,
        given_principals: bool = False,
    ) -> None:
        self.settings = settings
        self.clock = clock or time.time
        self.routes = RouteTable(settings)
        self.auth = Authenticator(settings)
        self.fingerprinter = Fingerprinter(settings)
        self.collector = SignalCollector(settings)
        self.store = store if store is not None else make_store(settings)
        rule_paths = [settings.resolve(p) for p in settings.rules]
        self.rules = RuleSetWatcher(rule_paths, initial=rules, kinds=(r.action for r in settings.routes))
        # What the GeoIP data leaves empty, and the rules it leaves with nothing to match (`gateway doctor`)
        log_report(build_report(self.fingerprinter.geoip, self.rules.current))
        self.scorer = None
        if settings.model:
            from gateway.model import ModelWatcher

            self.scorer = ModelWatcher(settings.resolve(settings.model))
        self.shadow = settings.mode == "shadow"
        self.record_features = record_features or settings.log.include_features
        log_settings = settings.log if decision_log else dataclasses.replace(settings.log, sink=None)
        self.log = DecisionLog(log_settings, settings.resolve)
        self.metrics = metrics  # off for replay: a backtest must not count as served traffic
        self.messages = load_catalogue(settings)
        if notifier is None and metrics:  # a served engine: the configured sinks (replay brings its own)
            from gateway.notify import Notifier

            notifier = Notifier.from_settings(settings, self.store)
        self.notifier = notifier
        if given_principals:  # the facts ring's replay: principals verified when the request was served
            self.auth.accept_given = True
        self.recorder = None
        if metrics and settings.admin.record:  # a served engine keeps what the admin console reads
            from gateway.admin.recorder import Recorder
            from gateway.admin.records import AdminRecords

            self.recorder = Recorder(self, AdminRecords(settings))
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(4)
        self._start_task: asyncio.Future | None = None
        self._request_counters: dict[tuple[str, str, bool], object] = {}
        self._demands: dict[str | None, Demand] = {}  # per action kind (None: any other kind)
        self._demand_of: tuple[object, object] = (None, None)  # the rules and scorer they were made for
        # A served engine writes the sticky decisions it pins at once, off the request path; a
        # backtest (metrics off) sends them with its next exchange, so a replay is reproducible.
        self._pin_at_once = metrics
        self._pins_due = False  # a task to write them is scheduled and has not started
        self._pin_writes: set[asyncio.Task] = set()

    # -- lifecycle -------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._start_task is not None and self._start_task.done() and not self._start_task.exception()

    async def start(self) -> None:
        """Start background work (JWKS refresh, rule and model reload, log writer).

        Idempotent, and safe to call from concurrent first requests: they all
        wait for the one start, so none is decided before the keys are loaded.
        """
        if self._start_task is None:
            self._start_task = asyncio.ensure_future(self._start())
        await asyncio.shield(self._start_task)

    async def _start(self) -> None:
        await self.auth.start()
        if self.settings.reload:
            await self.rules.start()
            if self.scorer is not None:
                await self.scorer.start()
        await self.log.start()
        if self.notifier is not None:
            await self.notifier.start()
        if self.recorder is not None:
            await self.recorder.start()
        # Everything built so far (modules, settings, rules, model, GeoIP readers)
        # lives as long as the process: moving it out of the collector's reach
        # keeps full collections, which otherwise walk it all, off the request path.
        # Not for backtest engines (metrics off), which come and go inside a serving process.
        if self.metrics:
            gc.freeze()

    async def close(self) -> None:
        if self._start_task is None:
            return
        self._start_task = None
        await self.rules.close()
        if self.scorer is not None:
            await self.scorer.close()
        await self.auth.close()
        await self.log.close()
        if self.notifier is not None:
            await self.notifier.close()
        if self.recorder is not None:
            await self.recorder.close()
        for task in list(self._pin_writes):  # the sticky decisions just pinned reach the store before it closes
            await task
        await self.store.close()
        self.fingerprinter.close()

    def match(self, method: str, path: str) -> Match | None:
        """The protected route or token endpoint this request hits, or None (pass through)."""
        return self.routes.match(method, path)

    # -- the token endpoint: how sessions are born --------------------------------
    async def observe_response(self, facts: RequestFacts, status: int, body: bytes) -> None:
        """Record a session's birth from a successful OAuth token response (RFC 6749 section 5.1)."""
        if status != 200 or not body or len(body) > MAX_TOKEN_RESPONSE:
            return
        try:
            payload = json.loads(body)
            token = payload.get("access_token") if isinstance(payload, dict) else None
            if not isinstance(token, str):
                return
            principal = self.auth.verify_issued(token, facts.ts)
        except (ValueError, RecursionError, AuthError) as exc:  # RecursionError: JSON nested too deep to parse
            logger.warning("token endpoint answered a token the gateway cannot verify: %s", exc)
            return
        try:
            fp = self.fingerprinter.fingerprint(facts)
            ops = self.collector.birth_ops(facts, principal, fp)
            await self.store.exchange(ops, facts.ts)
        except Exception:  # the client must get its token even if recording the birth fails
            logger.exception("could not record the birth of session %s", principal.session_id)

    # -- the decision ----------------------------------------------------------
    async def decide(self, facts: RequestFacts) -> Verdict:
        """Decide one protected request. Never raises: an internal fault passes the request, logged."""
        started = time.perf_counter() if self.metrics else 0.0
        try:
            verdict, context = await self._decide(facts)
        except Exception:  # a bug must not turn into a 500 or a block of a real person
            logger.exception("engine fault on %s %s; request passed", facts.method, facts.path)
            verdict, context = Verdict(self._next_id(), Decision.ALLOW, False, explain=FAULT_EXPLAIN), None
        if self.metrics:
            DECISION_SECONDS.observe(time.perf_counter() - started)
            self._count(facts.action or "", verdict)
        if self.log.enabled:  # the line is built by the log's writer, off the request path
            self.log.record(partial(self._log_entry, facts, verdict, context and context[:2]))
        if self.notifier is not None and context is not None and context[0] is not None:
            self.notifier.observe(facts, verdict, context[0], context[1])  # O(1): the work is done off the path
        if self.recorder is not None:
            self.recorder.observe(facts, verdict, context)  # O(1) too
        return verdict

    async def _decide(self, facts: RequestFacts) -> tuple[Verdict, Context | None]:
        try:
            principal = await self.auth.authenticate(facts)
        except AuthError as err:  # counted by the authenticator, by reason
            v = Verdict(self._next_id(), Decision.UNAUTHENTICATED, True, explain=f"unauthenticated: {err.reason}")
            v.auth_error, v.auth_error_description = err.error, err.description
            # where refused tokens come from: a flood of them is traced by address in the log
            return v, (None, self.fingerprinter.fingerprint(facts), None) if self.log.enabled else None
        fp = self.fingerprinter.fingerprint(facts)
        collector = self.collector
        plan = collector.plan(facts, principal, fp, self._demand(facts.action))
        result = await self.store.exchange(plan.ops, facts.ts)
        values = result.values
        features = collector.features(plan, values)
        verdict = self._sticky_verdict(collector.stickies(plan, values), facts.ts)
        if verdict is None:
            verdict = self._evaluate(features, plan, facts.ts)
        elif verdict.decision is Decision.UNAUTHENTICATED:  # a revoked session: refused like a dead token
            verdict.enforced = not self.shadow  # a replica in shadow mode only reports a revocation too
            return verdict, (principal, fp, features)
        if result.degraded:
            verdict.degraded = True
            if self.metrics:
                DEGRADED.inc()
            if self.settings.state.fail_closed and verdict.decision in (Decision.ALLOW, Decision.LOG):
                verdict.decision = Decision.CHALLENGE
                verdict.explain = "challenge: shared state unavailable and state.fail_closed is set"
        if self.shadow:
            verdict.enforced = False
        if self.record_features:
            verdict.features = features
        return verdict, (principal, fp, features)

    def _evaluate(self, features: dict, plan: Plan, now: float) -> Verdict:
        score, movers, extra = None, [], 0.0
        scorer = self.scorer.current if self.scorer is not None else None
        if scorer is not None:
            score, movers = scorer.score(features)  # never NaN: a model that could score one is refused at load
            features["model.score"] = score
            extra = self.settings.model_weight * score
        ev = self.rules.current.evaluate(features, extra)
        stuck = [] if ev.sticky else None
        for s in ev.sticky:
            record = Pin(s.decision, s.rule_id, now + s.ttl_s).encode()
            for key in self.collector.sticky_keys(plan, s.scope):
                self.collector.defer(Stick(key, record, now + s.ttl_s))
                stuck.append((key, record, now + s.ttl_s))  # type: ignore[union-attr]
        revoke = ev.revoke and not self.shadow
        if revoke:  # after the other sticks: the session's one sticky slot ends up holding the revocation
            until = now + self.settings.notify.revoke_for_s
            stick = Stick(plan.scope_keys[0], Pin(REVOKE, ev.decided_by or "revoke", until).encode(), until)
            stuck = [*(stuck or ()), (stick.key, stick.decision, until)]
            # every replica sees it at once, not at the next exchange; where it cannot be sent now, with that one
            if self.notifier is None or not self.notifier.revoke_now(stick, now):
                self.collector.defer(stick)
        if ev.sticky:
            self._send_pins()
        return Verdict(
            self._next_id(), ev.decision, True, rules=ev.rules, shadow_rules=ev.shadow_rules, score=score,
            risk=round(ev.risk, 3), explain=partial(_explained, ev, score, movers), retry_after=ev.retry_after,
            top_features=movers, reason=ev.reason, revoke=revoke, stuck=stuck, decided_by=ev.decided_by,
        )

    def _send_pins(self) -> None:
        """Write the sticky decisions just pinned at once, off the request path (a served engine).

        They wait in the collector's pending writes: whichever comes first, this task or the next
        request's exchange, takes them, so the request path keeps its one round trip, and an
        operator's lift or another replica's request no longer waits for this replica's next request.
        """
        if not self._pin_at_once or self._pins_due:
            return
        self._pins_due = True
        task = asyncio.get_running_loop().create_task(self._write_pending())
        self._pin_writes.add(task)
        task.add_done_callback(self._pin_writes.discard)

    async def _write_pending(self) -> None:
        self._pins_due = False
        ops = self.collector.take_pending()
        if not ops:
            return  # the next request took them
        try:
            await self.store.exchange(ops, self.clock())
        except Exception:  # never for an outage (the store degrades): a fault, and the pins are lost
            logger.exception("could not write %d pending writes (sticky decisions)", len(ops))

    def _demand(self, action: str | None) -> Demand:
        """What the collector computes for a request of this action kind (see _plan_demands)."""
        rules = self.rules.current
        scorer = self.scorer.current if self.scorer is not None else None
        made_for = self._demand_of
        if made_for[0] is not rules or made_for[1] is not scorer:  # a new rule set or model: plan again
            self._demands = self._plan_demands(rules, scorer)
            self._demand_of = (rules, scorer)
        demands = self._demands
        return demands.get(action) or demands[None]

    def _plan_demands(self, rules: RuleSet, scorer) -> dict[str | None, Demand]:
        """One Demand per action kind a rule is limited to, and one (key None) for every other kind.

        Read for a kind: what its rules read, enforced and shadow (RuleSet.reads); the model's inputs
        (its movers name them); and the features of every rule that pins a sticky decision, which may
        answer a request of any kind (the admin console shows its rule's features with the answer).
        With record_features (replay --features, log.include_features) every feature is read.
        """
        if self.record_features:
            return {None: EVERYTHING}
        both = set(scorer.feature_names) if scorer is not None else set()
        both.update(name for rule in rules.rules if rule.sticky is not None for name in rule.condition.features)
        demands = {kind: Demand(rules.reads(kind) | both) for kind in (*sorted(rules.kinds), None)}
        logger.info("features computed per action kind: %s", "; ".join(
            f"{kind or 'any other'}: {'all' if not d.skipped() else 'all but ' + ', '.join(d.skipped())}"
            for kind, d in demands.items()))
        return demands

    def _sticky_verdict(self, found: list[tuple[str, str]], now: float) -> Verdict | None:
        """An earlier sticky decision in any of this request's scopes answers without re-deciding."""
        best = None
        for scope, raw in found:
            decision, rule_id, until = Pin.parse(raw)
            # a revocation ranks just after an allow (the owner's exception replaces it on the same session)
            d = Decision.UNAUTHENTICATED if decision == REVOKE else Decision(decision)
            rank = 0.5 if d is Decision.UNAUTHENTICATED else RANK[d]
            if best is None or rank < best[4]:
                best = (d, rule_id, scope, until, rank)
        if best is None:
            return None
        d, rule_id, scope, until, _ = best
        if self.metrics:  # the rule's own hit was counted once, when it made the decision
            STICKY_REPEATS.labels(rule=rule_id, scope=scope).inc()
        remaining = max(1, int(until - now))
        if d is Decision.UNAUTHENTICATED:
            v = Verdict(self._next_id(), d, True, rules=[rule_id], sticky=True, reason=REVOKED, decided_by=rule_id,
                        explain=f"unauthenticated: session revoked by {rule_id}, for {remaining} s more")
            v.auth_error, v.auth_error_description = "invalid_token", REVOKED_DESCRIPTION
            return v
        return Verdict(
            self._next_id(), d, True, rules=[rule_id], sticky=True,
            explain=f"{d.value} by {rule_id}: sticky on this {scope} for {remaining} s more",
            retry_after=remaining if d is Decision.THROTTLE else None,
            reason=self.rules.current.reasons.get(rule_id) or DEFAULT_REASON.get(d.value), decided_by=rule_id,
        )

    # -- bookkeeping -------------------------------------------------------------
    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids):x}"

    def _count(self, action: str, verdict: Verdict) -> None:
        key = (action, verdict.decision.value, verdict.enforced)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = REQUESTS.labels(action, verdict.decision.value, str(verdict.enforced).lower())
        counter.inc()

    def _log_entry(self, facts: RequestFacts, v: Verdict, context: tuple | None) -> dict:
        """The decision log's line (built by the log's writer; the admin recorder builds its own)."""
        p, fp = (context[0], context[1]) if context else (None, None)
        entry = {
            "decision_id": v.decision_id,
            "ts": facts.ts,
            "subject": p.subject if p else None,
            "session": p.session_id if p else None,
            "client_id": p.client_id if p else None,
            "ip": fp.ip if fp else None,
            "net_class": fp.net_class if fp else None,
            "asn": fp.asn if fp else None,
            "country": fp.country if fp else None,
            "action": facts.action,
            "target": facts.target,
            "decision": v.decision.value,
            "enforced": v.enforced,
            "rules": v.rules,
            "shadow_rules": v.shadow_rules,
            "score": v.score,
            "top_features": v.top_features,
            "risk": v.risk,
            "explain": v.explain,
        }
        if v.degraded:
            entry["degraded"] = True
        if v.sticky:
            entry["sticky"] = True
        if v.reason is not None:
            entry["reason"] = v.reason
        if v.revoke:
            entry["revoke"] = True
        if v.features is not None:
            entry["features"] = v.features
        return entry


def _explained(ev, score: float | None, movers: list[tuple[str, float]]) -> str:
    """The verdict's explanation: the rules', then the model's movers (built when read)."""
    explain = ev.explain
    if score is not None and movers:
        model = f"model {score:.2f} (" + ", ".join(f"{name} {w:+.2f}" for name, w in movers) + ")"
        explain = f"{explain}; {model}" if explain else model
    return explain
