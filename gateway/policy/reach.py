"""Can a condition ever be true, when some features are known never to be present or to hold one value?

Used to tell an operator which loaded rules their data can never fire (no
GeoIP database gives ``net.country``; nothing gives the class ``hosting``).
It reads the checked syntax tree with the language's missing-value
semantics (gateway/policy/README.md): a comparison, function or arithmetic
on an absent feature is MISSING, ``false && MISSING`` is false, ``true ||
MISSING`` true, and a rule matches only when its condition is definitely
true. The answer errs one way only: "never" is said only when it is certain.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from gateway.policy.nodes import (
    Binary,
    Call,
    Conditional,
    ListLit,
    Literal,
    Logical,
    Node,
    Path,
    Unary,
)

_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Known:
    """What is certain about features for every request."""

    absent: Collection[str] = ()  # never present
    constant: Mapping[str, object] = field(default_factory=dict)  # when present, always this value
    domains: Mapping[str, Collection[object]] = field(default_factory=dict)  # when present, one of these


@dataclass(frozen=True, slots=True)
class _Outcome:
    can_true: bool
    can_false: bool
    why: tuple[str, ...] = ()  # the certain facts that rule an outcome out

    def negate(self) -> _Outcome:
        return _Outcome(self.can_false, self.can_true, self.why)


_ANY = _Outcome(True, True)


def never_true(root: Node, known: Known) -> list[str] | None:
    """Why the (checked) condition can never be true with ``known``, or None if it may be."""
    outcome = _Reach(known).visit(root)
    return None if outcome.can_true else list(dict.fromkeys(outcome.why))


class _Reach:
    def __init__(self, known: Known) -> None:
        self.absent = frozenset(known.absent)
        self.constant = known.constant
        self.domains = known.domains

    def visit(self, node: Node) -> _Outcome:
        if isinstance(node, Logical):
            return self._logical(node)
        if isinstance(node, Unary) and node.op == "!":
            return self.visit(node.operand).negate()
        if isinstance(node, Path):
            return self._path(node)
        if isinstance(node, Call) and node.name == "has" and node.args and isinstance(node.args[0], Path):
            name = node.args[0].feature
            if name in self.absent:
                return _Outcome(False, True, (f"{name} is never present",))
            return _ANY
        if isinstance(node, Binary) and (node.op in _COMPARE or node.op == "in"):
            found = self._compare(node)
            if found is not None:
                return found
        if isinstance(node, Conditional):
            return self._missing(node.cond) or _ANY
        return self._missing(node) or _ANY

    def _logical(self, node: Logical) -> _Outcome:
        outs = [self.visit(t) for t in node.terms]
        if node.op == "&&":
            can_true, can_false = all(o.can_true for o in outs), any(o.can_false for o in outs)
        else:
            can_true, can_false = any(o.can_true for o in outs), all(o.can_false for o in outs)
        why = tuple(w for o in outs if not (o.can_true and o.can_false) for w in o.why)
        return _Outcome(can_true, can_false, why)

    def _path(self, node: Path) -> _Outcome:
        name = node.feature
        if name in self.absent:
            return _Outcome(False, False, (f"{name} is never present",))
        if name in self.constant:
            value = self.constant[name]
            return _Outcome(value is True, True, (f"{name} is always {_text(value)}",))
        return _ANY

    def _missing(self, node: Node) -> _Outcome | None:
        """MISSING for sure when a value the node needs is never present (logic and has() excepted)."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, Path) and n.feature in self.absent:
                return _Outcome(False, False, (f"{n.feature} is never present",))
            if isinstance(n, Logical | Conditional) or (isinstance(n, Call) and n.name == "has"):
                continue  # these can decide without every operand
            stack.extend(n.children())
        return None

    def _compare(self, node: Binary) -> _Outcome | None:
        left, right, op = node.left, node.right, node.op
        if op != "in" and isinstance(left, Literal) and isinstance(right, Path):
            left, right, op = right, left, _FLIP[op]
        if not isinstance(left, Path):
            return None
        if op == "in":
            if not (isinstance(right, ListLit) and all(isinstance(i, Literal) for i in right.items)):
                return None
            values = [i.value for i in right.items]  # type: ignore[attr-defined]
        elif isinstance(right, Literal):
            values = [right.value]
        else:
            return None
        name = left.feature
        if name in self.absent:
            return _Outcome(False, False, (f"{name} is never present",))
        shown = f"{name} {op} {_text(values[0]) if op != 'in' else '[' + ', '.join(map(_text, values)) + ']'}"
        if name in self.constant:
            possible = [self.constant[name]]
        elif name in self.domains:
            possible = list(self.domains[name])
        else:
            return None
        results = {_test(op, p, values) for p in possible}
        if None in results or not results:
            return None  # a value that does not compare: leave the answer open
        can_true, can_false = True in results, False in results
        only = ", ".join(sorted(map(_text, possible)))
        verdict = "never holds" if not can_true else "always holds" if not can_false else "may hold"
        return _Outcome(can_true, can_false, (f"{shown} {verdict} ({name} is only ever {only})",))


def _test(op: str, value: object, values: list[object]) -> bool | None:
    try:
        if op == "in":
            return value in values
        return bool(_COMPARE[op](value, values[0]))
    except TypeError:
        return None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
