"""Check a parsed condition against the feature catalogue: names, types, functions.

Resolves dotted names to catalogue features (the longest dotted prefix that is
a feature), gives every node a type (gateway.policy.types), types function
calls by their entries in gateway.policy.functions (which compile regexes and
CIDR lists once), and collects every error with its offset.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from gateway.policy.errors import ExprError
from gateway.policy.functions import FUNCTIONS, operand_types
from gateway.policy.nodes import (
    Binary,
    Call,
    Conditional,
    Invalid,
    ListLit,
    Literal,
    Logical,
    Node,
    Path,
    Select,
    Unary,
)
from gateway.policy.types import ERROR, element, kind, plural
from gateway.signals.catalogue import Feature, number_text

_CATALOGUE_TYPES = {"bool": "bool", "int": "int", "float": "float", "string": "string", "list": "list[dyn]"}


def _compatible(a: str, b: str) -> bool:
    if ERROR in (a, b) or "dyn" in (a, b):
        return True
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == "list":
        return _compatible(element(a), element(b))
    return True


def _join(a: str, b: str) -> str:
    """The type of a value that is either a or b (list elements, ternary branches)."""
    if a == b:
        return a
    if a in (ERROR, "null"):
        return b
    if b in (ERROR, "null"):
        return a
    if kind(a) == kind(b) == "number":
        return "float"
    return "dyn"


class Checker:
    def __init__(self, lookup: Callable[[str], Feature | None], names: frozenset[str]) -> None:
        self.lookup = lookup
        self.names = names
        self.errors: list[ExprError] = []
        self.referenced: list[str] = []  # feature names in order of appearance

    def check_condition(self, root: Node) -> None:
        t = self.visit(root)
        if t not in ("bool", ERROR):
            self.error(root.pos, f"a condition must be true or false, but this is {plural(t)}")

    def error(self, pos: int, message: str) -> str:
        self.errors.append(ExprError(pos, message))
        return ERROR

    def visit(self, node: Node) -> str:
        method = getattr(self, "visit_" + type(node).__name__)
        node.type = method(node)
        return node.type

    # --- leaves --------------------------------------------------------------
    def visit_Literal(self, node: Literal) -> str:
        v = node.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int"
        if isinstance(v, float):
            return "float"
        return "string"

    def visit_Invalid(self, node: Invalid) -> str:
        return ERROR  # reported by the parser

    def visit_Path(self, node: Path) -> str:
        parts = node.parts
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            feature = self.lookup(name)
            if feature is None:
                continue
            if end < len(parts):
                return self.error(node.part_pos[end], f"feature '{name}' ({feature.type}) has no field '{parts[end]}'")
            node.feature = name
            if name not in self.referenced:
                self.referenced.append(name)
            return _CATALOGUE_TYPES[feature.type]
        dotted = node.dotted
        message = f"unknown feature '{dotted}'"
        close = difflib.get_close_matches(dotted, self.names, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        else:
            message += " (run 'gateway features' for the catalogue)"
        return self.error(node.pos, message)

    def visit_Select(self, node: Select) -> str:
        self.visit(node.operand)
        return self.error(node.pos, f"'.{node.field}': only feature names have dotted parts here")

    def visit_ListLit(self, node: ListLit) -> str:
        elem = "null"
        for item in node.items:
            t = self.visit(item)
            if t == ERROR:
                continue
            if kind(t) == "list":
                self.error(item.pos, "lists of lists are not supported")
                continue
            if not _compatible(elem, t) and elem != "null" and t != "null":
                self.error(item.pos, f"list mixes {plural(elem)} and {plural(t)}")
                continue
            elem = _join(elem, t)
        return f"list[{'dyn' if elem == 'null' else elem}]"

    # --- operators -------------------------------------------------------------
    def visit_Unary(self, node: Unary) -> str:
        t = self.visit(node.operand)
        if t == ERROR:
            return ERROR
        if node.op == "!":
            if t != "bool":
                return self.error(node.pos, f"'!' needs true or false, not {plural(t)}")
            return "bool"
        if kind(t) != "number":
            return self.error(node.pos, f"'-' needs a number, not {plural(t)}")
        return t

    def visit_Logical(self, node: Logical) -> str:
        for term in node.terms:
            t = self.visit(term)
            if t not in ("bool", ERROR):
                self.error(term.pos, f"'{node.op}' needs true or false on both sides, not {plural(t)}")
        return "bool"

    def visit_Binary(self, node: Binary) -> str:
        lt, rt = self.visit(node.left), self.visit(node.right)
        op = node.op
        if ERROR in (lt, rt):
            return "bool" if op in ("==", "!=", "<", "<=", ">", ">=", "in") else ERROR
        if op in ("==", "!="):
            if "null" in (lt, rt):
                return self.error(node.pos, "comparing with null: absent features are neither equal nor unequal to anything; test presence with has(feature)")
            if not _compatible(lt, rt):
                return self.error(node.pos, f"cannot compare {plural(lt)} with {plural(rt)} using '{op}'")
            return self._in_range(node)
        if op in ("<", "<=", ">", ">="):
            if not (kind(lt) == kind(rt) and kind(lt) in ("number", "string")) and "dyn" not in (lt, rt):
                return self.error(node.pos, f"cannot compare {plural(lt)} with {plural(rt)} using '{op}'")
            return self._in_range(node)
        if op == "in":
            if kind(rt) != "list" and rt != "dyn":
                return self.error(node.pos, f"'in' needs a list on the right, not {plural(rt)}")
            if kind(lt) == "list":
                return self.error(node.pos, "'in' tests one value, not a list, for membership")
            if not _compatible(lt, element(rt)):
                return self.error(node.pos, f"{plural(lt)} can never be in {plural(rt)}")
            return self._in_range(node)
        # arithmetic
        if op == "+" and kind(lt) == kind(rt) and kind(lt) in ("string", "list"):
            return lt if lt == rt else "list[dyn]"
        if kind(lt) != "number" or kind(rt) != "number":
            return self.error(node.pos, f"'{op}' needs numbers, not {plural(lt)} and {plural(rt)}")
        if op == "%":
            if lt != "int" or rt != "int":
                return self.error(node.pos, "'%' needs whole numbers (int)")
            return "int"
        if op == "/":
            return "float"
        return "int" if lt == rt == "int" else "float"

    def _in_range(self, node: Binary) -> str:
        """Refuse a feature compared with a number no value in its documented range can satisfy.

        Such a rule can never match: usually a threshold past a count's cap.
        """
        found = _feature_vs_numbers(node)
        if found is None:
            return "bool"
        path, op, values, literal = found
        feature = self.lookup(path.feature)
        if feature is None or any(_possible(feature, op, v) for v in values):
            return "bool"
        name, shown = feature.name, " ".join((feature.name, op, _literal_text(literal)))
        if feature.type == "int" and op in ("==", "in") and all(v != int(v) for v in values):
            return self.error(literal.pos, f"{name} is a whole number; no request can satisfy {shown}")
        span = feature.range_text
        if op in (">", ">=") and feature.max is not None:
            bound = f"is at most {number_text(feature.max)}"
        elif op in ("<", "<=") and feature.min is not None:
            bound = f"is at least {number_text(feature.min)}"
        else:
            bound = f"is never {'any of ' if op == 'in' else ''}{_literal_text(literal)}"
        return self.error(literal.pos, f"{name} {bound} (its range is {span}; see 'gateway features'); no request "
                                       f"can satisfy {shown}: compare with a value within {span}")

    def visit_Conditional(self, node: Conditional) -> str:
        ct = self.visit(node.cond)
        if ct not in ("bool", ERROR):
            self.error(node.cond.pos, f"the condition before '?' must be true or false, not {plural(ct)}")
        a, b = self.visit(node.then), self.visit(node.otherwise)
        if ERROR in (a, b):
            return ERROR  # reported already; its type is unknown
        if not _compatible(a, b) and "null" not in (a, b):
            return self.error(node.pos, f"both branches of '? :' must have one type, not {plural(a)} and {plural(b)}")
        return _join(a, b)

    # --- functions -------------------------------------------------------------
    def visit_Call(self, node: Call) -> str:
        function = FUNCTIONS.get(node.name)
        if function is not None:
            return function.check(self, node)
        if operand_types(self, node) is None:
            return ERROR
        message = f"unknown function '{node.name}'"
        close = difflib.get_close_matches(node.name, FUNCTIONS, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        else:
            message += f" (available: {', '.join(FUNCTIONS)})"
        return self.error(node.pos, message)


_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _number(node: Node) -> float | None:
    if isinstance(node, Literal) and type(node.value) in (int, float):
        return node.value  # type: ignore[return-value]
    return None


def _feature_vs_numbers(node: Binary) -> tuple[Path, str, list[float], Node] | None:
    """(feature, operator with the feature on the left, the numbers, the literal) or None."""
    left, right, op = node.left, node.right, node.op
    if op == "in":
        if not (isinstance(left, Path) and left.feature and isinstance(right, ListLit) and right.items):
            return None
        values = [_number(item) for item in right.items]
        if any(v is None for v in values):
            return None
        return left, op, values, right  # type: ignore[return-value]
    if isinstance(right, Path) and _number(left) is not None:
        left, right, op = right, left, _FLIP[op]
    value = _number(right)
    if not (isinstance(left, Path) and left.feature) or value is None:
        return None
    return left, op, [value], right


def _possible(feature: Feature, op: str, v: float) -> bool:
    """Whether some value the feature can take satisfies ``feature op v``."""
    lo, hi = feature.min, feature.max
    if op in ("==", "in"):
        whole = feature.type != "int" or v == int(v)
        return whole and feature.in_range(v)
    if op == "!=":
        return not (lo is not None and lo == hi == v)
    if op == ">":
        return hi is None or hi > v
    if op == ">=":
        return hi is None or hi >= v
    if op == "<":
        return lo is None or lo < v
    return lo is None or lo <= v  # "<="


def _literal_text(node: Node) -> str:
    if isinstance(node, ListLit):
        return "[" + ", ".join(_literal_text(i) for i in node.items) + "]"
    value = node.value  # type: ignore[attr-defined]
    return number_text(value) if isinstance(value, float) else str(value)

