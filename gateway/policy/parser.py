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

Recovery: an error in one operand of ``&&`` or ``||`` (or of a call, a list or
a ``? :``) is recorded, the tokens up to the next ``&&``, ``||``, ``,``, ``?``,
``:`` or the ``)``/``]`` that closes the enclosing group are skipped, and
parsing goes on, so every independent mistake in a condition is reported in
one pass. Exceeding a bound stops at once (what follows would only repeat it).
"""

from __future__ import annotations

from gateway.policy.errors import ExprError
from gateway.policy.lexer import Token, tokenize
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

MAX_LENGTH = 4096  # characters in one condition
MAX_DEPTH = 32  # levels of the tree (and of nesting while parsing)
MAX_NODES = 1000  # nodes in one condition

_RELATIONS = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"true": True, "false": False, "null": None}
_RESERVED = {"in", "as", "break", "const", "continue", "else", "for", "function", "if",
             "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}


_CLOSERS = (")", "]")
_STOPS = ("&&", "||", ",", "?", ":")  # where an operand ends at its own level


class _Bound(ExprError):
    """A bound was exceeded: not recovered from."""


def parse(text: str) -> Node:
    """The tree of ``text``; raises the first error (``parse_all`` reports them all)."""
    node, errors = parse_all(text)
    if errors:
        raise errors[0]
    assert node is not None
    return node


def parse_all(text: str) -> tuple[Node | None, list[ExprError]]:
    """The tree (with Invalid nodes where errors were) and every error, in order of position.

    The tree is None when a bound was exceeded.
    """
    if len(text) > MAX_LENGTH:
        return None, [ExprError(MAX_LENGTH, f"condition is {len(text)} characters long; the limit is {MAX_LENGTH} (split it into several rules)")]
    if not text.strip():
        return None, [ExprError(0, "condition is empty")]
    errors: list[ExprError] = []
    parser = _Parser(tokenize(text, errors), errors)
    try:
        node: Node | None = parser.parse()
    except _Bound as exc:
        errors.append(exc)
        node = None
    return node, sorted(errors, key=lambda e: e.pos)


class _Parser:
    def __init__(self, tokens: list[Token], errors: list[ExprError]) -> None:
        self.tokens = tokens
        self.errors = errors
        self.i = 0
        self.nodes = 0
        self.nesting = 0
        self.open = 0  # groups ( [ and calls opened and not yet closed

    # --- helpers ---------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":  # the end stays put, whatever recovery asks
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
            raise _Bound(node.pos, f"condition has more than {MAX_NODES} nodes (split it into several rules)")
        if node.depth > MAX_DEPTH:
            raise _Bound(node.pos, f"condition is nested deeper than {MAX_DEPTH} levels (split it or use 'in' with a list)")
        return node

    def enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise _Bound(pos, f"condition is nested deeper than {MAX_DEPTH} levels (split it or use 'in' with a list)")

    def leave(self) -> None:
        self.nesting -= 1

    # --- recovery --------------------------------------------------------------
    def recovering(self, operand) -> Node:
        """``operand()``; on an error, record it, skip to where the next operand can start, give Invalid."""
        open_before, nesting_before = self.open, self.nesting
        try:
            return operand()
        except _Bound:
            raise
        except ExprError as exc:
            self.error(exc.pos, exc.message)
            self.nesting = nesting_before
            self.skip(self.open - open_before)
            self.open = open_before
            return Invalid(exc.pos)

    def skip(self, abandoned: int) -> None:
        """Skip tokens, and the closers of ``abandoned`` groups, up to an operand's end at this level."""
        depth = 0
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                return
            if tok.kind == "op":
                if tok.value in ("(", "["):
                    depth += 1
                elif tok.value in _CLOSERS:
                    if depth:
                        depth -= 1
                    elif abandoned:
                        abandoned -= 1
                    else:
                        return  # closes the group this level is in: its reader takes it
                elif tok.value in _STOPS and not depth and not abandoned:
                    return
            self.next()

    # --- grammar ---------------------------------------------------------------
    def parse(self) -> Node:
        node = self.recovering(self.expr)
        rest: list[Node] = []  # what follows a stray token, read so that its own errors are found too
        while self.peek().kind != "eof":
            tok = self.next()
            if tok.kind == "op" and tok.value in _CLOSERS:
                self.error(tok.pos, f"{tok.value!r} closes nothing (remove it or add its opening)")
            else:
                self.error(tok.pos, f"unexpected {_describe(tok)} after a complete condition (missing && or ||?)")
                self.skip_to_logic()
            if self.at_op("&&", "||"):
                self.next()
                rest.append(self.recovering(self.expr))
        return Logical(node.pos, "&&", [node, *rest]) if rest else node

    def error(self, pos: int, message: str) -> None:
        if not any(e.pos == pos for e in self.errors):  # one error per place: the first explains it
            self.errors.append(ExprError(pos, message))

    def skip_to_logic(self) -> None:
        """Skip to the next && or || outside any group (or the end)."""
        depth = 0
        while (tok := self.peek()).kind != "eof":
            if tok.kind == "op":
                if tok.value in ("(", "["):
                    depth += 1
                elif tok.value in _CLOSERS and depth:
                    depth -= 1
                elif tok.value in ("&&", "||") and not depth:
                    return
            self.next()

    def expr(self) -> Node:
        cond = self.logical("||", self.and_)
        if self.at_op("?"):
            pos = self.next().pos
            self.enter(pos)
            then = self.recovering(lambda: self.logical("||", self.and_))
            self.expect_op(":", "in a conditional a ? b : c")
            otherwise = self.recovering(self.expr)
            self.leave()
            return self.made(Conditional(pos, cond, then, otherwise))
        return cond

    def and_(self) -> Node:
        return self.logical("&&", self.relation)

    def logical(self, op: str, operand) -> Node:
        first = self.recovering(operand)
        if not self.at_op(op):
            return first
        terms = [first]
        pos = self.peek().pos
        while self.at_op(op):
            self.next()
            terms.append(self.recovering(operand))
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
        self.open += 1
        args: list[Node] = []
        if not self.at_op(close):
            args.append(self.recovering(self.expr))
            while self.at_op(","):
                self.next()
                if self.at_op(close):  # trailing comma
                    break
                args.append(self.recovering(self.expr))
        self.expect_op(close, "to close the list" if close == "]" else "to close the call")
        self.open -= 1
        self.leave()
        return args

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("int", "float", "string"):
            self.next()
            return self.made(Literal(tok.pos, tok.value))
        if tok.kind == "invalid":  # the lexer reported it
            self.next()
            return Invalid(tok.pos)
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
            self.open += 1
            inner = self.recovering(self.expr)
            self.expect_op(")", "to close '('")
            self.open -= 1
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
