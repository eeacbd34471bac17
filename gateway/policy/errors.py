"""Errors of the policy layer: one for a place in an expression, one for a whole load."""

from __future__ import annotations


class ExprError(Exception):
    """A problem at an offset in one condition; the pack maps it to file:line:col."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class PolicyError(Exception):
    """Rule packs that did not load. ``errors`` holds every problem as ``file:line:col: message``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        head = f"{count} error{'s' if count != 1 else ''} in rule packs"
        super().__init__(head + ":\n" + "\n".join(self.errors))
