"""The rule language's functions, in one table: name, type rule (its signature), implementation.

The checker types a call with its entry's ``check``, which also prepares
literal arguments once, at load (a regex, CIDR networks, kept in
``Call.extra``). The compiler builds the call's closure with ``value`` from
the closures of its operands (receiver first, then arguments) and, for the
common shapes, a faster truth closure with ``truth``. An absent operand
(None: MISSING) makes the call's value absent, as with every operator.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import re2

from gateway.policy.nodes import Call, ListLit, Literal, Node, Path
from gateway.policy.types import ERROR, kind, plural

Features = Mapping[str, object]
ValueFn = Callable[[Features], Any]
TruthFn = Callable[[Features], bool]
Report = Callable[[int, str], str]  # reports a message at an offset; returns ERROR

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors are reported with their place, not on stderr


class Typer(Protocol):
    """What a check needs from the checker."""

    def visit(self, node: Node) -> str: ...

    def error(self, pos: int, message: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    check: Callable[[Typer, Call], str]  # the call's type, or ERROR once reported
    value: Callable[[Call, list[ValueFn]], ValueFn]  # (call, operand closures) -> the call's value closure
    # (call, want, operand closures) -> "is the call definitely ``want``?" for shapes it has a faster answer for
    truth: Callable[[Call, bool, list[ValueFn]], TruthFn | None] | None = None


def operand_types(typer: Typer, node: Call) -> tuple[str | None, list[str]] | None:
    """The types of a call's receiver (None without one) and arguments; None when one was reported already."""
    recv = typer.visit(node.receiver) if node.receiver is not None else None
    args = [typer.visit(a) for a in node.args]
    if ERROR in args or recv == ERROR:
        return None
    return recv, args


def _typed(check: Callable[[Call, str | None, list[str], Report], str], predicate: bool
           ) -> Callable[[Typer, Call], str]:
    """A check of the operands' types, run once they are typed; ``predicate``: the call is a bool whatever they are."""
    def typed(typer: Typer, node: Call) -> str:
        types = operand_types(typer, node)
        if types is None:  # reported already: no second message about the same mistake
            return "bool" if predicate else ERROR
        return check(node, *types, typer.error)
    return typed


# --- has(feature) -------------------------------------------------------------------
def _check_has(typer: Typer, node: Call) -> str:
    if node.receiver is not None or len(node.args) != 1 or not isinstance(node.args[0], Path):
        return typer.error(node.pos, "has() takes one feature name: has(net.country)")
    typer.visit(node.args[0])
    return "bool"


def _has_value(node: Call, operands: list[ValueFn]) -> ValueFn:
    name = node.args[0].feature  # type: ignore[attr-defined]
    return lambda f: f.get(name) is not None


def _has_truth(node: Call, want: bool, operands: list[ValueFn]) -> TruthFn:
    name = node.args[0].feature  # type: ignore[attr-defined]
    if want:
        return lambda f: f.get(name) is not None
    return lambda f: f.get(name) is None


# --- size(x), x.size() ------------------------------------------------------------------
def _check_size(node: Call, recv: str | None, args: list[str], error: Report) -> str:
    subject = ([recv] if recv else []) + args
    if len(subject) != 1:
        return error(node.pos, "size() takes one string or list: size(x) or x.size()")
    if kind(subject[0]) not in ("string", "list"):
        return error(node.pos, f"size() needs a string or list, not {plural(subject[0])}")
    return "int"


def _size_value(node: Call, operands: list[ValueFn]) -> ValueFn:
    (subject,) = operands

    def size(f: Features) -> int | None:
        v = subject(f)
        return None if v is None else len(v)
    return size


# --- s.startsWith(p), s.endsWith(p), s.contains(p), s.matches(re) ------------------------
def _check_string_method(node: Call, recv: str | None, args: list[str], error: Report) -> str:
    name = node.name
    if recv is None:
        return error(node.pos, f"{name}() is called on a string: x.{name}(...)")
    if recv != "string":
        return error(node.pos, f"{name}() needs a string before the dot, not {plural(recv)}")
    if len(args) != 1 or args[0] != "string":
        return error(node.pos, f"{name}() takes one string argument")
    return "bool"


def _check_matches(node: Call, recv: str | None, args: list[str], error: Report) -> str:
    if recv is None and len(args) == 2:  # the global form matches(s, re)
        recv, args = args[0], args[1:]
        node.receiver, node.args = node.args[0], node.args[1:]
    t = _check_string_method(node, recv, args, error)
    if t == ERROR:
        return t
    pattern = node.args[0]
    if not isinstance(pattern, Literal):
        return error(pattern.pos, "matches() needs a literal pattern, so it is compiled once at load")
    try:
        node.extra = re2.compile(pattern.value, options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return error(pattern.pos, f"regex {pattern.value!r} is not valid RE2 (linear-time) syntax: {reason}")
    return "bool"


def _matches(s: str, regex: Any) -> bool:
    return regex.search(s) is not None


def _fixed_argument(node: Call, arg: ValueFn) -> Any:
    """The argument of s.name(arg) when it is the same for every request (a regex compiled at load, a
    constant string), else None."""
    if node.extra is not None:
        return node.extra
    return arg({}) if node.args[0].constant else None


def _string_method(call: Callable[[str, Any], bool]
                   ) -> tuple[Callable[[Call, list[ValueFn]], ValueFn], Callable[[Call, bool, list[ValueFn]], TruthFn | None]]:
    """The value and truth builders of ``s.name(arg)``, which is ``call(s, arg)``."""
    def value(node: Call, operands: list[ValueFn]) -> ValueFn:
        receiver, arg = operands
        fixed = _fixed_argument(node, arg)
        if fixed is not None:
            def fixed_arg(f: Features) -> bool | None:
                v = receiver(f)
                return None if v is None else call(v, fixed)
            return fixed_arg

        def string_method(f: Features) -> bool | None:
            v = receiver(f)
            if v is None:
                return None
            a = arg(f)
            return None if a is None else call(v, a)
        return string_method

    def truth(node: Call, want: bool, operands: list[ValueFn]) -> TruthFn | None:
        fixed = _fixed_argument(node, operands[1])
        if fixed is None or not isinstance(node.receiver, Path):
            return None
        name = node.receiver.feature

        def string_test(f: Features) -> bool:
            v = f.get(name)
            return v is not None and call(v, fixed) is want
        return string_test
    return value, truth


# --- inCidr(ip, "cidr"), inCidr(ip, ["cidr", ...]) -----------------------------------------
def _check_in_cidr(node: Call, recv: str | None, args: list[str], error: Report) -> str:
    if node.receiver is not None or len(args) != 2:
        return error(node.pos, "inCidr() takes an IP and a CIDR or list of CIDRs: inCidr(net.ip, \"10.0.0.0/8\")")
    if args[0] != "string":
        return error(node.args[0].pos, f"inCidr() needs an IP string first, not {plural(args[0])}")
    spec = node.args[1]
    literals = [spec] if isinstance(spec, Literal) else spec.items if isinstance(spec, ListLit) else None
    if literals is None or not all(isinstance(x, Literal) and isinstance(x.value, str) for x in literals):
        return error(spec.pos, "inCidr() needs a literal CIDR string or a list of them, parsed once at load")
    networks = []
    for lit in literals:
        try:
            networks.append(ipaddress.ip_network(lit.value, strict=False))
        except ValueError:
            error(lit.pos, f"{lit.value!r} is not a CIDR network (e.g. \"203.0.113.0/24\" or \"2001:db8::/32\")")
    node.extra = tuple(networks)
    return "bool"


def _in_cidr_value(node: Call, operands: list[ValueFn]) -> ValueFn:
    ip_of = operands[0]
    networks = node.extra or ()
    by_version = {4: tuple(n for n in networks if n.version == 4), 6: tuple(n for n in networks if n.version == 6)}

    def in_cidr(f: Features) -> bool | None:
        v = ip_of(f)
        if v is None:
            return None
        try:
            ip = ipaddress.ip_address(v)
        except ValueError:
            return None  # not an IP: as if absent
        return any(ip in net for net in by_version[ip.version])
    return in_cidr


# --- min(a, b, ...), max(a, b, ...) --------------------------------------------------------
def _check_extreme(node: Call, recv: str | None, args: list[str], error: Report) -> str:
    name = node.name
    if recv is not None or not args:
        return error(node.pos, f"{name}() takes one or more numbers: {name}(a, b)")
    for a, t in zip(node.args, args, strict=True):
        if kind(t) != "number":
            return error(a.pos, f"{name}() needs numbers, not {plural(t)}")
    return "int" if all(t == "int" for t in args) else "float"


def _extreme(pick: Callable[[list[Any]], Any]) -> Callable[[Call, list[ValueFn]], ValueFn]:
    def value(node: Call, operands: list[ValueFn]) -> ValueFn:
        def extreme(f: Features) -> Any:
            values = [a(f) for a in operands]
            return None if None in values else pick(values)
        return extreme
    return value


FUNCTIONS: dict[str, Function] = {fn.name: fn for fn in (
    Function("size", _typed(_check_size, False), _size_value),  # size(x), x.size(): length of a string or list
    Function("has", _check_has, _has_value, _has_truth),  # has(feature): the feature is present
    Function("startsWith", _typed(_check_string_method, True), *_string_method(str.startswith)),
    Function("endsWith", _typed(_check_string_method, True), *_string_method(str.endswith)),
    Function("contains", _typed(_check_string_method, True), *_string_method(operator.contains)),  # part in s
    Function("matches", _typed(_check_matches, True), *_string_method(_matches)),  # RE2 search, literal pattern
    Function("inCidr", _typed(_check_in_cidr, True), _in_cidr_value),  # inCidr(ip, "cidr" or ["cidr", ...])
    Function("min", _typed(_check_extreme, False), _extreme(min)),  # min(a, b, ...)
    Function("max", _typed(_check_extreme, False), _extreme(max)),
)}
