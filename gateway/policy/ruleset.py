"""A loaded, immutable set of rules and the per-request evaluation.

Order of evaluation for one request's features:

1. Allowlists (client_id, net.ip in cidrs, net.asn, account.id): ALLOW at once.
2. The rules whose ``on`` covers features["action"] (indexed at load), in file
   order. A rule matches only when its condition is definitely true.
3. Enforced matches decide by gateway.verdict.PRECEDENCE (allow > block >
   absorb > challenge > throttle > log); their weights plus ``extra_risk`` form
   the risk; the thresholds turn risk into challenge/block when no harsher
   rule decided. Nothing matched and risk below thresholds: ALLOW.
4. Shadow-mode matches are reported in ``shadow_rules`` and change nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from gateway.messages.families import DEFAULT_REASON
from gateway.metrics import RULE_HITS
from gateway.policy.errors import PolicyError
from gateway.policy.index import RuleIndex
from gateway.policy.loader import Merged, load_and_merge
from gateway.policy.pack import Rule
from gateway.verdict import RANK, Decision, LazyText


@dataclass(frozen=True, slots=True)
class Sticky:
    """Remember ``decision`` for ``ttl_s`` seconds for the request's ``scope``."""

    scope: str  # session, account, device, prefix or ip
    decision: Decision
    ttl_s: int
    rule_id: str


@dataclass(slots=True)
class Evaluation:
    decision: Decision
    rules: list[str]  # enforced rules that matched (and threshold:* when a threshold decided)
    shadow_rules: list[str]  # shadow-mode rules that matched
    risk: float
    explain: str  # built on first read when given a function (gateway.verdict.LazyText)
    sticky: list[Sticky] = field(default_factory=list)
    retry_after: int | None = None
    reason: str | None = None  # the reason family a stopped client reads
    revoke: bool = False  # a rule with action revoke decided: the session is revoked too
    decided_by: str | None = None  # the rule id (or threshold:*) whose decision this is; None for allow


LazyText.install(Evaluation, "explain")


@dataclass(frozen=True, slots=True)
class Thresholds:
    challenge: float | None = None
    block: float | None = None


class RuleSet:
    """Rules compiled from one or more packs. Immutable once built: swap, don't edit."""

    def __init__(self, merged: Merged) -> None:
        if merged.errors:
            raise PolicyError(merged.errors)
        self.rules: tuple[Rule, ...] = tuple(merged.rules)
        self.files: tuple[str, ...] = tuple(merged.files)
        self.thresholds = Thresholds(merged.thresholds.get("challenge"), merged.thresholds.get("block"))
        lists = merged.allowlists
        self._clients = frozenset(v for v, _ in lists.get("clients", ()))
        self._accounts = frozenset(v for v, _ in lists.get("accounts", ()))
        self._asns = frozenset(v for v, _ in lists.get("asns", ()))
        self._networks = tuple(v for v, _ in lists.get("cidrs", ()))
        self._has_allowlists = bool(self._clients or self._accounts or self._asns or self._networks)
        self.referenced_features: frozenset[str] = frozenset(
            name for rule in self.rules for name in rule.condition.features
        )
        # Index by action kind: each kind gets its own rules plus the "*" rules, then a
        # guard index inside each (see gateway.policy.index).
        kinds = {k for rule in self.rules if rule.on is not None for k in rule.on}
        self.kinds: frozenset[str] = frozenset(kinds)  # the action kinds some rule is limited to
        # What evaluate() reads per kind: the action, the allowlists in use, and the features
        # of the rules it runs for that kind, enforced and shadow.
        listed = {"client_id": self._clients, "account.id": self._accounts, "net.asn": self._asns,
                  "net.ip": self._networks}
        base = frozenset(["action", *(name for name, values in listed.items() if values)])
        self._reads_other = base.union(*(r.condition.features for r in self.rules if r.on is None))
        self._reads = {kind: base.union(*(r.condition.features for r in self.rules if r.on is None or kind in r.on))
                       for kind in kinds}
        self._wildcard = self._index([r for r in self.rules if r.on is None])
        self._by_action = {
            kind: self._index([r for r in self.rules if r.on is None or kind in r.on]) for kind in kinds
        }
        self.reasons: dict[str, str] = {rule.id: rule.reason for rule in self.rules if rule.reason}
        self._hit_counters = {
            rule.id: RULE_HITS.labels(rule=rule.id, mode=rule.mode) for rule in self.rules
        }

    def _index(self, rules: list[Rule]) -> RuleIndex:
        position = {rule.id: i for i, rule in enumerate(self.rules)}
        entries = [(position[r.id], r.condition.matches, r) for r in rules]
        return RuleIndex(entries, [r.condition.root for r in rules])

    # --- construction -------------------------------------------------------------
    @classmethod
    def load(cls, paths: str | Path | Iterable[str | Path]) -> RuleSet:
        """Load packs from files or folders (*.yaml); raises PolicyError listing every error."""
        return cls(load_and_merge(paths))

    @classmethod
    def empty(cls) -> RuleSet:
        return cls(Merged())

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules from {len(self.files)} files>"

    def reads(self, action: object) -> frozenset[str]:
        """The features ``evaluate`` reads for a request of this action kind (the feature ``action``)."""
        return self._reads.get(action, self._reads_other) if isinstance(action, str) else self._reads_other

    # --- evaluation ------------------------------------------------------------------
    def evaluate(self, features: Mapping[str, object], extra_risk: float = 0.0) -> Evaluation:
        """Decide for one request. Never raises for any feature values."""
        if self._has_allowlists:
            allowed = self._allowlisted(features)
            if allowed is not None:
                return Evaluation(Decision.ALLOW, [allowed[0]], [], float(extra_risk), allowed[1])
        action = features.get("action")
        index = self._by_action.get(action, self._wildcard) if isinstance(action, str) else self._wildcard
        candidates = index.candidates(features)
        try:
            hits = [(pos, rule) for pos, test, rule in candidates if test(features)]
        except Exception:  # a feature of the wrong type: that rule does not match, the others still run
            hits = [(pos, rule) for pos, test, rule in candidates if _safe(test, features)]
        if not hits:
            return self._risk_only(float(extra_risk))
        hits.sort(key=_first)  # file order, whatever order the index found them in
        return self._decide([rule for _, rule in hits], features, float(extra_risk))

    def _risk_only(self, risk: float) -> Evaluation:
        decision, threshold = self._threshold(risk)
        if decision is None:
            return Evaluation(Decision.ALLOW, [], [], risk, "")
        return Evaluation(decision, [threshold], [], risk,
                          f"{decision.value} by {threshold}: risk {risk:g} (model and other signals)",
                          reason=DEFAULT_REASON.get(decision.value))

    def _threshold(self, risk: float) -> tuple[Decision | None, str]:
        t = self.thresholds
        if t.block is not None and risk >= t.block:
            return Decision.BLOCK, "threshold:block"
        if t.challenge is not None and risk >= t.challenge:
            return Decision.CHALLENGE, "threshold:challenge"
        return None, ""

    def _decide(self, hits: list[Rule], features: Mapping[str, object], extra_risk: float) -> Evaluation:
        enforced = [r for r in hits if r.mode == "enforce"]
        shadow = [r for r in hits if r.mode != "enforce"]
        counters = self._hit_counters
        for rule in hits:
            counters[rule.id].inc()
        risk = extra_risk + sum(r.weight for r in enforced)
        decider: Rule | None = None
        for rule in enforced:
            if rule.action is not None and (decider is None or RANK[rule.action] < RANK[decider.action]  # type: ignore[index]
                                            or rule.revoke and not decider.revoke and rule.action is decider.action):
                decider = rule  # of equal blocks, one that revokes decides
        decision = decider.action if decider is not None else None
        by_threshold, threshold_id = self._threshold(risk)
        ids = [r.id for r in enforced]
        if by_threshold is not None and (decision is None or RANK[by_threshold] < RANK[decision]):
            decision = by_threshold
            decider = None
            ids.append(threshold_id)
        else:
            threshold_id = ""
        if decision is None:
            decision = Decision.ALLOW
        sticky = []
        if decision is not Decision.ALLOW:
            sticky = [Sticky(r.sticky.scope, r.action, r.sticky.ttl_s, r.id)  # type: ignore[arg-type]
                      for r in enforced if r.sticky is not None and r.action is not None]
        retry_after = decider.retry_after if decider is not None and decision is Decision.THROTTLE else None
        explain = partial(_explain, decision, decider, threshold_id, enforced, shadow, features, risk, extra_risk,
                          self.thresholds)  # built when read
        if decider is not None:
            reason, revoke = decider.reason, decider.revoke
        else:
            reason, revoke = DEFAULT_REASON.get(decision.value), False
        decided_by = decider.id if decider is not None else (threshold_id or None)
        return Evaluation(decision, ids, [r.id for r in shadow], risk, explain, sticky, retry_after, reason, revoke,
                          decided_by)

    def _allowlisted(self, features: Mapping[str, object]) -> tuple[str, str] | None:
        client = features.get("client_id")
        if client is not None and client in self._clients:
            return "allowlist:clients", f"allow by allowlist:clients: client_id={client}"
        account = features.get("account.id")
        if account is not None and account in self._accounts:
            return "allowlist:accounts", f"allow by allowlist:accounts: account.id={account}"
        asn = features.get("net.asn")
        if asn is not None and asn in self._asns:
            return "allowlist:asns", f"allow by allowlist:asns: net.asn={asn}"
        ip = features.get("net.ip")
        if self._networks and isinstance(ip, str):
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return None
            for network in self._networks:
                if address.version == network.version and address in network:
                    return "allowlist:cidrs", f"allow by allowlist:cidrs: net.ip={ip} in {network}"
        return None


def _first(pair: tuple[int, Rule]) -> int:
    return pair[0]


def _safe(test, features: Mapping[str, object]) -> bool:
    try:
        return bool(test(features))
    except Exception:
        return False


def format_value(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def _evidence(rule: Rule, features: Mapping[str, object]) -> str:
    names = rule.condition.features
    if not names:
        return ""
    return " (" + ", ".join(f"{n}={format_value(features.get(n))}" for n in names) + ")"


def _explain(decision: Decision, decider: Rule | None, threshold_id: str, enforced: list[Rule],
             shadow: list[Rule], features: Mapping[str, object], risk: float, extra_risk: float,
             thresholds: Thresholds) -> str:
    parts: list[str] = []
    if decider is not None:
        parts.append(f"{decision.value} by {decider.id}: {decider.description}{_evidence(decider, features)}")
    elif threshold_id:
        limit = thresholds.block if decision is Decision.BLOCK else thresholds.challenge
        parts.append(f"{decision.value} by {threshold_id}: risk {risk:g} >= {limit:g}")
    else:
        parts.append(f"{decision.value}: risk {risk:g} below the thresholds")
    others = [r for r in enforced if r is not decider]
    if others:
        parts.append(("also " if decider is not None else "from ") + ", ".join(
            f"{r.id}{f' +{r.weight:g}' if r.weight else ''}{_evidence(r, features)}" for r in others))
    if extra_risk and (threshold_id or decider is None):
        parts.append(f"model/other risk +{extra_risk:g}")
    if shadow:
        parts.append("shadow: " + ", ".join(
            f"{r.id} would {r.action.value if r.action else f'add {r.weight:g}'}{_evidence(r, features)}" for r in shadow))
    return "; ".join(parts)
