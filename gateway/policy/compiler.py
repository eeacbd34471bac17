"""Compile a checked condition into nested Python closures over the feature mapping.

No eval, exec or compile: each node becomes a small closure. Absent features
read as None (MISSING). Two kinds of closure are built:

* value closures return the node's value, or None when it is MISSING;
* truth closures return a plain bool: "is this node definitely true?" (or,
  asked with want=False, "definitely false?"). ``a && b`` is definitely true
  when both are; definitely false when either is, so ``false && MISSING`` is
  false and ``true || MISSING`` is true, in either order, like CEL.

A rule matches when the truth closure of its condition returns True. Common
shapes (feature op literal, feature in [literals], has(feature), short && / ||
chains) get their own closures, and constant subtrees are folded at load.
Function calls are built by their entries in gateway.policy.functions.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from gateway.policy.errors import ExprError
from gateway.policy.functions import FUNCTIONS, Features, TruthFn, ValueFn
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

_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def compile_truth(node: Node, want: bool = True) -> TruthFn:
    """A closure answering: is this (bool) node definitely ``want`` for these features?"""
    if _is_constant(node):
        value = _fold(node)
        result = value is want
        return lambda f: result
    return _truth(node, want)


def _truth(node: Node, want: bool) -> TruthFn:
    if isinstance(node, Path):
        name = node.feature
        if want:
            return lambda f: f.get(name) is True
        return lambda f: f.get(name) is False
    if isinstance(node, Unary) and node.op == "!":
        return compile_truth(node.operand, not want)
    if isinstance(node, Logical):
        terms = [compile_truth(t, want) for t in node.terms]
        every = (node.op == "&&") == want
        return _all(terms) if every else _any(terms)
    if isinstance(node, Binary) and node.op in _COMPARE:
        return _compare_truth(node, want)
    if isinstance(node, Binary) and node.op == "in":
        return _in_truth(node, want)
    if isinstance(node, Call):
        function = FUNCTIONS[node.name]
        if function.truth is not None:
            special = function.truth(node, want, _operands(node))
            if special is not None:
                return special
    value = compile_value(node)
    if want:
        return lambda f: value(f) is True
    return lambda f: value(f) is False


def compile_value(node: Node) -> ValueFn:
    """A closure returning the node's value, or None when it is MISSING."""
    if not isinstance(node, Literal) and _is_constant(node):
        value = _fold(node)
        return lambda f: value
    return _value(node)


# --- truth closures -------------------------------------------------------------
def _all(terms: list[TruthFn]) -> TruthFn:
    if len(terms) == 2:
        a, b = terms
        return lambda f: a(f) and b(f)
    if len(terms) == 3:
        a, b, c = terms
        return lambda f: a(f) and b(f) and c(f)
    head = _all(terms[:2]) if len(terms) > 3 else terms[0]
    rest = _all(terms[2:]) if len(terms) > 3 else terms[1]
    return lambda f: head(f) and rest(f)


def _any(terms: list[TruthFn]) -> TruthFn:
    if len(terms) == 2:
        a, b = terms
        return lambda f: a(f) or b(f)
    if len(terms) == 3:
        a, b, c = terms
        return lambda f: a(f) or b(f) or c(f)
    head = _any(terms[:2]) if len(terms) > 3 else terms[0]
    rest = _any(terms[2:]) if len(terms) > 3 else terms[1]
    return lambda f: head(f) or rest(f)


def _feature_vs_constant(name: str, op: str, c: object) -> TruthFn:
    # One closure per operator: calling operator.lt through a variable costs a call.
    if op == "==":
        return lambda f: f.get(name) == c  # None (MISSING) never equals a non-null constant
    if op == "!=":
        def ne(f: Features) -> bool:
            v = f.get(name)
            return v is not None and v != c
        return ne
    if op == "<":
        def lt(f: Features) -> bool:
            v = f.get(name)
            return v is not None and v < c
        return lt
    if op == "<=":
        def le(f: Features) -> bool:
            v = f.get(name)
            return v is not None and v <= c
        return le
    if op == ">":
        def gt(f: Features) -> bool:
            v = f.get(name)
            return v is not None and v > c
        return gt

    def ge(f: Features) -> bool:
        v = f.get(name)
        return v is not None and v >= c
    return ge


def _compare_truth(node: Binary, want: bool) -> TruthFn:
    op = node.op if want else _NEGATE[node.op]
    left, right = node.left, node.right
    if isinstance(left, Path) and _is_constant(right):
        c = _fold(right)
        if c is not None:
            return _feature_vs_constant(left.feature, op, c)
    if isinstance(right, Path) and _is_constant(left):
        c = _fold(left)
        if c is not None:
            return _feature_vs_constant(right.feature, _FLIP[op], c)
    compare = _COMPARE[op]
    lv, rv = compile_value(left), compile_value(right)

    def generic(f: Features) -> bool:
        a = lv(f)
        if a is None:
            return False
        b = rv(f)
        return b is not None and compare(a, b)
    return generic


def _in_truth(node: Binary, want: bool) -> TruthFn:
    lv = compile_value(node.left)
    if _is_constant(node.right):
        items = _fold(node.right)
        if items is None:
            return lambda f: False
        members = frozenset(x for x in items if x is not None)
        if isinstance(node.left, Path):
            name = node.left.feature
            if want:
                return lambda f: f.get(name) in members
            def not_in_feature(f: Features) -> bool:
                v = f.get(name)
                return v is not None and v not in members
            return not_in_feature

        def in_constant(f: Features) -> bool:
            v = lv(f)
            return v is not None and (v in members) is want
        return in_constant
    rv = compile_value(node.right)

    def in_dynamic(f: Features) -> bool:
        a = lv(f)
        if a is None:
            return False
        b = rv(f)
        return b is not None and (a in b) is want
    return in_dynamic


# --- value closures ---------------------------------------------------------------
def _value(node: Node) -> ValueFn:
    if isinstance(node, Literal):
        value = node.value
        return lambda f: value
    if isinstance(node, Path):
        name = node.feature
        return lambda f: f.get(name)
    if isinstance(node, ListLit):
        return _list_value(node)
    if isinstance(node, Unary):
        operand = compile_value(node.operand)
        if node.op == "-":
            def negative(f: Features) -> Any:
                v = operand(f)
                return None if v is None else -v
            return negative

        def logical_not(f: Features) -> Any:
            v = operand(f)
            return None if v is None else not v
        return logical_not
    if isinstance(node, Logical) or (isinstance(node, Binary) and (node.op in _COMPARE or node.op == "in")):
        return _three_valued(node)
    if isinstance(node, Binary):
        return _arithmetic(node)
    if isinstance(node, Conditional):
        return _conditional(node)
    if isinstance(node, Call):
        return FUNCTIONS[node.name].value(node, _operands(node))
    raise ExprError(node.pos, f"cannot compile {type(node).__name__}")


def _three_valued(node: Node) -> ValueFn:
    is_true, is_false = _truth(node, True), _truth(node, False)

    def three_valued(f: Features) -> bool | None:
        if is_true(f):
            return True
        return False if is_false(f) else None
    return three_valued


def _list_value(node: ListLit) -> ValueFn:
    items = [compile_value(i) for i in node.items]

    def build(f: Features) -> list | None:
        out = []
        for item in items:
            v = item(f)
            if v is None:  # a list with a MISSING element is MISSING
                return None
            out.append(v)
        return out
    return build


def _divide(a: Any, b: Any) -> Any:
    return None if b == 0 else a / b


def _remainder(a: int, b: int) -> int | None:
    if b == 0:
        return None
    r = abs(a) % abs(b)  # truncated like CEL: the sign follows the dividend
    return -r if a < 0 else r


def _concat(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        return a + b
    return [*a, *b]


_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide, "%": _remainder}


def _arithmetic(node: Binary) -> ValueFn:
    lv, rv = compile_value(node.left), compile_value(node.right)
    op = _ARITHMETIC[node.op]
    if node.op == "+" and (node.type == "string" or node.type.startswith("list")):
        op = _concat

    def arithmetic(f: Features) -> Any:
        a = lv(f)
        if a is None:
            return None
        b = rv(f)
        if b is None:
            return None
        return op(a, b)
    return arithmetic


def _conditional(node: Conditional) -> ValueFn:
    is_true, is_false = compile_truth(node.cond, True), compile_truth(node.cond, False)
    then, otherwise = compile_value(node.then), compile_value(node.otherwise)

    def conditional(f: Features) -> Any:
        if is_true(f):
            return then(f)
        if is_false(f):
            return otherwise(f)
        return None
    return conditional


def _operands(node: Call) -> list[ValueFn]:
    """The value closures of a call's receiver (when it has one) and arguments, in that order."""
    return [compile_value(n) for n in node.children()]


# --- constants ----------------------------------------------------------------------
def _is_constant(node: Node) -> bool:
    return node.constant


def fold_constant(node: Node) -> Any:
    """The value of a constant node (lists as tuples), computed once at load."""
    return _fold(node)


def _fold(node: Node) -> Any:
    if isinstance(node, Literal):
        return node.value
    try:
        value = _value(node)({})
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ExprError(node.pos, f"this constant part cannot be computed: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        # an infinite or NaN constant makes every comparison with it fixed, whatever the request
        raise ExprError(node.pos, f"this constant part is {value}, not a finite number; write the number it should be")
    return tuple(value) if isinstance(value, list) else value
