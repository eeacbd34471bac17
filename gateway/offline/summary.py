"""Replay summaries: decisions, rule hits, and precision/recall where labels exist."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.offline.decisions import TOKEN_BIRTH

FLAGGING = frozenset({"block", "challenge", "throttle", "absorb"})


def flagged(decision: str, enforced: bool) -> bool:
    """An action counts as stopped when the gateway enforced a block, challenge, throttle or absorb."""
    return enforced and decision in FLAGGING


@dataclass(slots=True)
class Confusion:
    tp: int = 0  # abuse flagged
    fp: int = 0  # benign flagged
    fn: int = 0  # abuse passed
    tn: int = 0  # benign passed

    def add(self, label: str, hit: bool, times: int = 1) -> None:
        if label == "abuse":
            if hit:
                self.tp += times
            else:
                self.fn += times
        elif hit:
            self.fp += times
        else:
            self.tn += times

    @property
    def abuse(self) -> int:
        return self.tp + self.fn

    @property
    def benign(self) -> int:
        return self.fp + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.abuse if self.abuse else None

    @property
    def fpr(self) -> float | None:
        return self.fp / self.benign if self.benign else None

    def as_dict(self) -> dict[str, Any]:
        return {"abuse": self.abuse, "benign": self.benign, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "tn": self.tn, "precision": _r(self.precision), "recall": _r(self.recall), "fpr": _r(self.fpr)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass(slots=True)
class Tally:
    """Accumulates one replay's records into its summary.

    Only protected actions are decisions. A token-endpoint record (the app's
    login or refresh answer, which says how a session was born) and a request
    no route protects pass undecided: they are counted as ``births`` and
    ``unprotected``, not as ``allow``.
    """

    by: tuple[str, ...] = ()
    actions: int = 0  # protected actions: the decisions
    births: int = 0  # token-endpoint records
    unprotected: int = 0
    decisions: Counter = field(default_factory=Counter)
    rule_hits: Counter = field(default_factory=Counter)
    shadow_hits: Counter = field(default_factory=Counter)
    overall: Confusion = field(default_factory=Confusion)
    groups: dict[str, dict[str, Confusion]] = field(default_factory=dict)
    lines_read: int | None = None  # set by the reader; None: records given as dicts, no lines
    blank: int = 0
    malformed: int = 0

    def add(self, out: dict[str, Any], protected: bool) -> None:
        """Count one decision line (as ``decision_dict`` makes it)."""
        if not protected:
            self.passed(out.get("explain") == TOKEN_BIRTH)
            return
        self.count(out["decision"], out["enforced"], out["rules"], out["shadow_rules"], out.get("label"),
                   out.get("meta"))

    def passed(self, birth: bool) -> None:
        """Count a record that passed without a decision: a token-endpoint record or an unprotected request."""
        if birth:
            self.births += 1
        else:
            self.unprotected += 1

    def count(self, decision: str, enforced: bool, rules: Sequence[str], shadow_rules: Sequence[str], label: Any,
              meta: Any, times: int = 1) -> None:
        """Count ``times`` decisions on protected actions, alike in these fields (replay counts each alike
        decision once, ``meta`` only matters with ``by``)."""
        self.actions += times
        self.decisions[decision] += times
        for rule in rules:
            self.rule_hits[rule] += times
        for rule in shadow_rules:
            self.shadow_hits[rule] += times
        if label not in ("abuse", "benign"):
            return
        hit = flagged(decision, enforced)
        self.overall.add(label, hit, times)
        for name in self.by:
            self.groups.setdefault(name, {}).setdefault(group_key(name, label, meta), Confusion()).add(label, hit, times)

    @property
    def records(self) -> int:
        return self.actions + self.births + self.unprotected

    def as_dict(self) -> dict[str, Any]:
        records = self.records
        read = records + self.blank + self.malformed if self.lines_read is None else self.lines_read
        out: dict[str, Any] = {
            "lines_read": read, "valid": records, "malformed": self.malformed, "blank": self.blank,
            "actions": self.actions, "births": self.births, "unprotected": self.unprotected,
            "decisions": dict(sorted(self.decisions.items())),
            "rule_hits": dict(self.rule_hits.most_common()),
            "shadow_rule_hits": dict(self.shadow_hits.most_common()),
        }
        if self.overall.abuse or self.overall.benign:
            out["labelled"] = self.overall.as_dict()
            out["by"] = {name: {k: c.as_dict() for k, c in sorted(groups.items())} for name, groups in self.groups.items()}
        return out


def group_key(name: str, label: Any, meta: Any) -> str:
    """The row of a ``--by NAME`` breakdown a labelled action falls in.

    Abusive actions carry no persona: they are labelled with their family and
    level (``meta.family`` and ``meta.level``, 0 crude to 3 careful; the
    simulator's ``meta.evasion`` names the level), so ``--by persona`` puts
    them in rows such as ``abuse:like_farm/L0``, not all in ``-``.
    """
    if not isinstance(meta, dict):
        return "-"
    if name == "persona" and label == "abuse":
        return abuse_key(meta)
    return _key(meta.get(name))


def abuse_key(meta: dict[str, Any]) -> str:
    family = meta.get("family")
    key = "abuse:" + _key(family if family is not None else meta.get("persona"))
    level = meta.get("level", meta.get("evasion"))
    if level is None:
        return key
    if type(level) is int:
        return f"{key}/L{level}"
    return f"{key}/{level}"


def _key(value: Any) -> str:
    return "-" if value is None else str(value)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few plain lines for a terminal."""
    read = f"{summary['lines_read']} lines read: {summary['valid']} valid, {summary['malformed']} malformed"
    if summary["blank"]:
        read += f", {summary['blank']} blank"
    lines = [read, f"{summary['actions']} protected actions decided; passed without a decision: "
                   f"{summary['births']} token-endpoint records (session births), "
                   f"{summary['unprotected']} unprotected requests"]
    lines.append("decisions: " + (", ".join(f"{k} {v}" for k, v in summary["decisions"].items()) or "none"))
    if summary["rule_hits"]:
        lines.append("rule hits: " + ", ".join(f"{k} {v}" for k, v in summary["rule_hits"].items()))
    if summary["shadow_rule_hits"]:
        lines.append("shadow rule hits: " + ", ".join(f"{k} {v}" for k, v in summary["shadow_rule_hits"].items()))
    if "labelled" in summary:
        lines.append("labelled: " + _metrics(summary["labelled"]))
        for name, groups in summary["by"].items():
            lines.append(f"by {name}:")
            width = max((len(k) for k in groups), default=0)
            lines.extend(f"  {k:<{width}}  {_metrics(c)}" for k, c in groups.items())
    return "\n".join(lines)


def _metrics(c: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "   -  " if x is None else f"{x * 100:6.2f}%"

    return (f"precision {pct(c['precision'])}  recall {pct(c['recall'])}  fpr {pct(c['fpr'])}  "
            f"(abuse {c['abuse']}, benign {c['benign']}, tp {c['tp']}, fp {c['fp']})")
