"""Find the rules that can possibly match a request without running them all.

Each rule whose condition is a conjunction (or a single test) gets a guard: its
first term that must hold for the rule to match and that can be looked up
instead of run:

* ``feature == constant``, ``feature in [constants]``: the rule is filed under
  that feature and its accepted values;
* ``feature >= number`` / ``feature > number``: the rule is filed on a sorted
  threshold list for that feature, found with one bisect;
* a bool ``feature`` or ``!feature``: filed under True or False.

The first term of the most selective kind (in that order) is the guard.

At request time each guarded feature is read once; only the rules whose guard
holds, plus the rules without a guard, run their full condition (which tests
the guard again, so the index only ever skips rules that could not match).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

from gateway.policy.compiler import TruthFn, fold_constant
from gateway.policy.nodes import Binary, Logical, Node, Path, Unary

Entry = tuple[int, TruthFn, Any]  # (file order, condition test, rule)

_FLIP = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "=="}


def guard_of(root: Node) -> tuple[str, str, Any] | None:
    """("eq", feature, values) or ("ge"/"gt", feature, number), or None."""
    terms = root.terms if isinstance(root, Logical) and root.op == "&&" else [root]
    found = [g for g in (_term_guard(t) for t in terms) if g is not None]
    # The most selective kind first: an equality or membership test names few
    # values, a threshold excludes the low ones, a bool only halves.
    for kind in ("eq", "ge", "gt", "bool"):
        for guard in found:
            if guard[0] == kind:
                return ("eq", guard[1], guard[2]) if kind == "bool" else guard
    return None


def _term_guard(term: Node) -> tuple[str, str, Any] | None:
    if isinstance(term, Path) and term.type == "bool":
        return ("bool", term.feature, frozenset([True]))
    if isinstance(term, Unary) and term.op == "!" and isinstance(term.operand, Path) and term.operand.type == "bool":
        return ("bool", term.operand.feature, frozenset([False]))
    if not isinstance(term, Binary):
        return None
    op, left, right = term.op, term.left, term.right
    if op in _FLIP and isinstance(right, Path) and left.constant:
        op, left, right = _FLIP[op], right, left
    if not isinstance(left, Path) or not right.constant or left.type not in ("bool", "int", "float", "string"):
        return None
    value = fold_constant(right)
    if op == "in" and isinstance(value, tuple):
        values = [v for v in value if v is not None and not isinstance(v, (list, tuple))]
        return ("eq", left.feature, frozenset(values))
    if op == "==" and value is not None and not isinstance(value, (list, tuple)):
        return ("eq", left.feature, frozenset([value]))
    if op in (">=", ">") and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and left.type in ("int", "float"):
        return ("ge" if op == ">=" else "gt", left.feature, value)
    return None


class RuleIndex:
    def __init__(self, entries: list[Entry], roots: list[Node]) -> None:
        self.always: list[Entry] = []
        equal: dict[str, dict[Any, list[Entry]]] = {}
        above: dict[tuple[str, str], list[tuple[float, Entry]]] = {}
        for entry, root in zip(entries, roots, strict=True):
            found = guard_of(root)
            if found is None:
                self.always.append(entry)
            elif found[0] == "eq":
                table = equal.setdefault(found[1], {})
                for value in found[2]:
                    table.setdefault(value, []).append(entry)
            else:
                above.setdefault((found[0], found[1]), []).append((found[2], entry))
        self.equal = tuple((name, {v: tuple(es) for v, es in table.items()}) for name, table in equal.items())
        self.above = []
        for (kind, name), pairs in above.items():
            pairs.sort(key=lambda p: p[0])
            limits = [p[0] for p in pairs]
            ordered = tuple(p[1] for p in pairs)
            self.above.append((name, bisect_right if kind == "ge" else bisect_left, limits, ordered))
        self.all = sorted(entries, key=lambda e: e[0])

    def candidates(self, features: Mapping[str, object]) -> list[Entry]:
        """The rules that may match, unordered; every rule when a value cannot be looked up."""
        found = list(self.always)
        try:
            for name, table in self.equal:
                value = features.get(name)
                if value is not None:
                    hit = table.get(value)
                    if hit:
                        found.extend(hit)
            for name, search, limits, ordered in self.above:
                value = features.get(name)
                if value is not None:
                    count = search(limits, value)
                    if count:
                        found.extend(ordered[:count])
        except TypeError:  # an unhashable or non-numeric value: run every rule
            return list(self.all)
        return found
