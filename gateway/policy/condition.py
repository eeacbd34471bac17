"""One condition from text to a compiled test: parse, check against the catalogue, compile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway import catalogue
from gateway.policy.checker import Checker
from gateway.policy.compiler import TruthFn, ValueFn, compile_truth, compile_value
from gateway.policy.errors import ExprError
from gateway.policy.parser import parse


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    matches: TruthFn  # True only when the condition is definitely true
    value: ValueFn  # True, False or None (MISSING), for tests and explanations
    features: tuple[str, ...]  # catalogue names it reads, in order of appearance

    def outcome(self, features: Mapping[str, object]) -> str:
        """'true', 'false' or 'missing', never raising."""
        try:
            v = self.value(features)
        except Exception:  # a feature of the wrong type behaves as absent
            return "missing"
        return "missing" if v is None else ("true" if v else "false")


def compile_condition(text: str) -> Condition:
    """Compile one condition; raises ExprErrorGroup with every error found."""
    try:
        root = parse(text)
    except ExprError as exc:
        raise ExprErrors([exc]) from None
    checker = Checker(catalogue.lookup, catalogue.names())
    checker.check_condition(root)
    if checker.errors:
        raise ExprErrors(checker.errors)
    try:
        matches = compile_truth(root, True)
        value = compile_value(root)
    except ExprError as exc:
        raise ExprErrors([exc]) from None
    return Condition(text, matches, value, tuple(checker.referenced))


class ExprErrors(Exception):
    """Every error found in one condition, each with its offset."""

    def __init__(self, errors: list[ExprError]) -> None:
        super().__init__("; ".join(f"at {e.pos}: {e.message}" for e in errors))
        self.errors = errors
