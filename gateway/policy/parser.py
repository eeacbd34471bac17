"""Parse a condition (CEL syntax) into a tree, within fixed bounds.

Grammar, lowest precedence first (as CEL):
  expr    = or ["?" or ":" expr]
  or      = and {"||" and}
  and     = rel {"&&" rel}
  rel     = add {("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") add}
  add     = mul {("+" | "-") mul}
  mul     = unary {("*" | "/" | "%") unary}
  unary   = ("!" | "-") unary | member
  member  = primary {"." IDENT ["(" args ")"]}
  primary = literal | IDENT ["(" args ")"] | "(" expr ")" | "[" [args] "]"
"""

from __future__ import annotations

from gateway.policy.errors import ExprError
from gateway.policy.lexer import Token, tokenize
from gateway.policy.nodes import (
    Binary,
    Call,
    Conditional,
    ListLit,
    Literal,
    Logical,
    Node,
    Path,
    Select,
    Unary,
)

MAX_LENGTH = 4096  # characters in one condition
MAX_DEPTH = 32  # levels of the tree (and of nesting while parsing)
MAX_NODES = 1000  # nodes in one condition

_RELATIONS = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"true": True, "false": False, "null": None}
_RESERVED = {"in", "as", "break", "const", "continue", "else", "for", "function", "if",
             "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}


def parse(text: str) -> Node:
    if len(text) > MAX_LENGTH:
        raise ExprError(MAX_LENGTH, f"condition is {len(text)} characters long; the limit is {MAX_LENGTH} (split it into several rules)")
    if not text.strip():
        raise ExprError(0, "condition is empty")
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.nodes = 0
        self.nesting = 0

    # --- helpers ---------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_op(self, *ops: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.value in ops

    def expect_op(self, op: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.value == op:
            return self.next()
        raise ExprError(tok.pos, f"expected {op!r} {what}, found {_describe(tok)}")

    def made(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExprError(node.pos, f"condition has more than {MAX_NODES} nodes (split it into several rules)")
        if node.depth > MAX_DEPTH:
            raise ExprError(node.pos, f"condition is nested deeper than {MAX_DEPTH} levels (split it or use 'in' with a list)")
        return node

    def enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExprError(pos, f"condition is nested deeper than {MAX_DEPTH} levels (split it or use 'in' with a list)")

    def leave(self) -> None:
        self.nesting -= 1

    # --- grammar ---------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "eof":
            raise ExprError(tok.pos, f"unexpected {_describe(tok)} after a complete condition (missing && or ||?)")
        return node

    def expr(self) -> Node:
        cond = self.logical("||", self.and_)
        if self.at_op("?"):
            pos = self.next().pos
            self.enter(pos)
            then = self.logical("||", self.and_)
            self.expect_op(":", "in a conditional a ? b : c")
            otherwise = self.expr()
            self.leave()
            return self.made(Conditional(pos, cond, then, otherwise))
        return cond

    def and_(self) -> Node:
        return self.logical("&&", self.relation)

    def logical(self, op: str, operand) -> Node:
        first = operand()
        if not self.at_op(op):
            return first
        terms = [first]
        pos = self.peek().pos
        while self.at_op(op):
            self.next()
            terms.append(operand())
        return self.made(Logical(pos, op, terms))

    def relation(self) -> Node:
        left = self.additive()
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.value in _RELATIONS:
                op = tok.value
            elif tok.kind == "ident" and tok.value == "in":
                op = "in"
            else:
                return left
            self.next()
            right = self.additive()
            left = self.made(Binary(tok.pos, op, left, right))

    def additive(self) -> Node:
        left = self.multiplicative()
        while self.at_op("+", "-"):
            tok = self.next()
            left = self.made(Binary(tok.pos, tok.value, left, self.multiplicative()))
        return left

    def multiplicative(self) -> Node:
        left = self.unary()
        while self.at_op("*", "/", "%"):
            tok = self.next()
            left = self.made(Binary(tok.pos, tok.value, left, self.unary()))
        return left

    def unary(self) -> Node:
        if self.at_op("!", "-"):
            tok = self.next()
            self.enter(tok.pos)
            operand = self.unary()
            self.leave()
            if tok.value == "-" and isinstance(operand, Literal) and type(operand.value) in (int, float):
                return self.made(Literal(tok.pos, -operand.value))
            return self.made(Unary(tok.pos, tok.value, operand))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.at_op("."):
            self.next()
            tok = self.next()
            if tok.kind != "ident":
                raise ExprError(tok.pos, f"expected a field or method name after '.', found {_describe(tok)}")
            if self.at_op("("):
                args = self.arguments(")")
                node = self.made(Call(tok.pos, tok.value, args, node))
            elif isinstance(node, Path):
                node.parts.append(tok.value)
                node.part_pos.append(tok.pos)
            else:
                node = self.made(Select(tok.pos, node, tok.value))
        if self.at_op("["):
            raise ExprError(self.peek().pos, "indexing with [...] is not supported; use 'in' or size()")
        return node

    def arguments(self, close: str) -> list[Node]:
        open_tok = self.next()
        self.enter(open_tok.pos)
        args: list[Node] = []
        if not self.at_op(close):
            args.append(self.expr())
            while self.at_op(","):
                self.next()
                if self.at_op(close):  # trailing comma
                    break
                args.append(self.expr())
        self.expect_op(close, "to close the list" if close == "]" else "to close the call")
        self.leave()
        return args

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("int", "float", "string"):
            self.next()
            return self.made(Literal(tok.pos, tok.value))
        if tok.kind == "ident":
            self.next()
            name = tok.value
            if name in _KEYWORDS:
                return self.made(Literal(tok.pos, _KEYWORDS[name]))
            if name in _RESERVED:
                raise ExprError(tok.pos, f"{name!r} is a reserved word, not a name")
            if self.at_op("("):
                return self.made(Call(tok.pos, name, self.arguments(")"), None))
            return self.made(Path(tok.pos, [name], [tok.pos]))
        if tok.kind == "op" and tok.value == "(":
            self.next()
            self.enter(tok.pos)
            inner = self.expr()
            self.expect_op(")", "to close '('")
            self.leave()
            return inner
        if tok.kind == "op" and tok.value == "[":
            return self.made(ListLit(tok.pos, self.arguments("]")))
        if tok.kind == "eof":
            raise ExprError(tok.pos, "condition ends where a value was expected")
        raise ExprError(tok.pos, f"expected a value, found {_describe(tok)}")


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "the end of the condition"
    if tok.kind == "string":
        return f"string {tok.value!r}"
    return f"{tok.value!r}"
