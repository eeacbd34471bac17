"""The syntax tree of a condition. Each node knows its offset, its depth and (after checking) its type."""

from __future__ import annotations


class Node:
    __slots__ = ("pos", "depth", "type", "constant")

    def __init__(self, pos: int, *children: Node) -> None:
        self.pos = pos
        self.depth = 1 + max((c.depth for c in children), default=0)
        self.type = ""  # set by the checker: bool, int, float, string, null, list[...]
        # No feature is read anywhere below: the value can be computed at load.
        self.constant = all(c.constant for c in children)

    def children(self) -> tuple[Node, ...]:
        return ()


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: object) -> None:
        super().__init__(pos)
        self.value = value  # None is the null literal


class Invalid(Node):
    """Where the parser could not read a value (its error already reported); the checker types it as an error."""

    __slots__ = ()

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.constant = False


class Path(Node):
    """A dotted name as written (``ip.accounts_1h``); the checker resolves it to a Feature."""

    __slots__ = ("parts", "part_pos", "feature")

    def __init__(self, pos: int, parts: list[str], part_pos: list[int]) -> None:
        super().__init__(pos)
        self.constant = False
        self.parts = parts
        self.part_pos = part_pos
        self.feature = ""  # the catalogue name, once resolved

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


class Select(Node):
    """A field of something that is not a name, e.g. ``(a).b``; always rejected by the checker."""

    __slots__ = ("operand", "field")

    def __init__(self, pos: int, operand: Node, field: str) -> None:
        super().__init__(pos, operand)
        self.operand = operand
        self.field = field

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class ListLit(Node):
    __slots__ = ("items",)

    def __init__(self, pos: int, items: list[Node]) -> None:
        super().__init__(pos, *items)
        self.items = items

    def children(self) -> tuple[Node, ...]:
        return tuple(self.items)


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, pos: int, op: str, operand: Node) -> None:
        super().__init__(pos, operand)
        self.op = op  # "!" or "-"
        self.operand = operand

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class Binary(Node):
    """Arithmetic, comparison and ``in``."""

    __slots__ = ("op", "left", "right")

    def __init__(self, pos: int, op: str, left: Node, right: Node) -> None:
        super().__init__(pos, left, right)
        self.op = op
        self.left = left
        self.right = right

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


class Logical(Node):
    """``a && b && c`` or ``a || b || c``, kept flat so long conjunctions stay shallow."""

    __slots__ = ("op", "terms")

    def __init__(self, pos: int, op: str, terms: list[Node]) -> None:
        super().__init__(pos, *terms)
        self.op = op
        self.terms = terms

    def children(self) -> tuple[Node, ...]:
        return tuple(self.terms)


class Conditional(Node):
    __slots__ = ("cond", "then", "otherwise")

    def __init__(self, pos: int, cond: Node, then: Node, otherwise: Node) -> None:
        super().__init__(pos, cond, then, otherwise)
        self.cond = cond
        self.then = then
        self.otherwise = otherwise

    def children(self) -> tuple[Node, ...]:
        return (self.cond, self.then, self.otherwise)


class Call(Node):
    """``size(x)`` (receiver None) or ``x.startsWith(s)`` (receiver x)."""

    __slots__ = ("name", "args", "receiver", "extra")

    def __init__(self, pos: int, name: str, args: list[Node], receiver: Node | None) -> None:
        kids = ([receiver] if receiver is not None else []) + args
        super().__init__(pos, *kids)
        if name == "has":
            self.constant = False
        self.name = name
        self.args = args
        self.receiver = receiver
        self.extra: object = None  # load-time data: a compiled regex, parsed networks

    def children(self) -> tuple[Node, ...]:
        return ((self.receiver,) if self.receiver is not None else ()) + tuple(self.args)


def walk(node: Node):
    """Every node of the tree, parents first."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children()))
