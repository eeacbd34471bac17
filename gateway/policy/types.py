"""The rule language's types as the checker spells them.

bool, int, float, string, null, list[T] (T may be dyn: unknown element
type), dyn (any value) and error: a subtree already reported, compatible with
everything so that one mistake gives one message. int and float are both
numbers.
"""

from __future__ import annotations

ERROR = "error"


def kind(t: str) -> str:
    if t in ("int", "float"):
        return "number"
    if t.startswith("list"):
        return "list"
    return t


def element(t: str) -> str:
    return t[5:-1] if t.startswith("list[") else "dyn"


def plural(t: str) -> str:
    """The type as a message names a value of it: "an int", "a list of strings"."""
    if t.startswith("list"):
        elem = element(t)
        return "a list" if elem == "dyn" else f"a list of {elem}s"
    return {"bool": "a bool", "int": "an int", "float": "a float", "string": "a string",
            "null": "null", "dyn": "a value"}.get(t, t)
