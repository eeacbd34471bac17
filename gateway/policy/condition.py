"""One condition from text to a compiled test: parse, check against the catalogue, compile."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policy.checker import Checker
from gateway.policy.compiler import TruthFn, ValueFn, compile_truth, compile_value
from gateway.policy.errors import ExprError
from gateway.policy.nodes import Node
from gateway.policy.parser import parse_all
from gateway.signals import catalogue


class Condition:
    """A compiled condition. ``matches`` is the hot path; ``value`` is built when first asked."""

    __slots__ = ("text", "matches", "features", "_root", "_value")

    def __init__(self, text: str, matches: TruthFn, features: tuple[str, ...], root: Node) -> None:
        self.text = text
        self.matches = matches  # True only when the condition is definitely true
        self.features = features  # catalogue names it reads, in order of appearance
        self._root = root
        self._value: ValueFn | None = None

    @property
    def root(self) -> Node:
        """The checked syntax tree (for indexing and tooling)."""
        return self._root

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"

    def value(self, features: Mapping[str, object]) -> object:
        """The condition's value: True, False or None (MISSING)."""
        if self._value is None:
            self._value = compile_value(self._root)
        return self._value(features)

    def outcome(self, features: Mapping[str, object]) -> str:
        """'true', 'false' or 'missing', never raising."""
        try:
            v = self.value(features)
        except Exception:  # a feature of the wrong type behaves as absent
            return "missing"
        return "missing" if v is None else ("true" if v else "false")


def compile_condition(text: str) -> Condition:
    """Compile one condition; raises ExprErrors with every error found."""
    root, errors = parse_all(text)
    if root is None:
        raise ExprErrors(errors)
    # Checked even after syntax errors: the clauses that parsed still get their name and type errors.
    checker = Checker(catalogue.lookup, catalogue.names())
    checker.check_condition(root)
    if errors or checker.errors:
        raise ExprErrors(errors + checker.errors)  # syntax first: a name or type error may follow from one
    try:
        matches = compile_truth(root, True)
    except ExprError as exc:
        raise ExprErrors([exc]) from None
    return Condition(text, matches, tuple(checker.referenced), root)


class ExprErrors(Exception):
    """Every error found in one condition, each with its offset."""

    def __init__(self, errors: list[ExprError]) -> None:
        super().__init__("; ".join(f"at {e.pos}: {e.message}" for e in errors))
        self.errors = errors
