"""Tokens of the condition language (CEL syntax).

Every token carries its offset in the expression so errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.policy.errors import ExprError

INT64_MAX = 2**63 - 1

# Two-character operators are tried first so "<=" is not read as "<" then "=".
_OPERATORS_2 = frozenset(("&&", "||", "==", "!=", "<=", ">="))
_OPERATORS_1 = frozenset("<>!+-*/%?:()[],.")
_SIMPLE_ESCAPES = {
    "\\": "\\", '"': '"', "'": "'", "`": "`", "?": "?",
    "n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # int, float, string, ident, op, eof
    value: object
    pos: int  # offset in the expression


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            i = _number(text, i, tokens)
        elif c in "\"'" or (c in "rR" and i + 1 < n and text[i + 1] in "\"'"):
            i = _string(text, i, tokens)
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(Token("ident", text[i:j], i))
            i = j
        elif text[i : i + 2] in _OPERATORS_2:
            tokens.append(Token("op", text[i : i + 2], i))
            i += 2
        elif c in _OPERATORS_1:
            tokens.append(Token("op", c, i))
            i += 1
        else:
            hint = " (use && and || for logic)" if c in "&|" else ""
            if c == "=":
                hint = " (use == to compare)"
            raise ExprError(i, f"unexpected character {c!r}{hint}")
    tokens.append(Token("eof", None, n))
    return tokens


def _number(text: str, i: int, tokens: list[Token]) -> int:
    n = len(text)
    start = i
    if text.startswith(("0x", "0X"), i):
        j = i + 2
        while j < n and text[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            raise ExprError(i, "hex literal needs digits after 0x")
        value = int(text[i + 2 : j], 16)
        if value > INT64_MAX:
            raise ExprError(start, "integer literal is out of the 64-bit range")
        tokens.append(Token("int", value, start))
        return j
    j = i
    while j < n and text[j].isdigit():
        j += 1
    is_float = False
    if j < n and text[j] == "." and j + 1 < n and text[j + 1].isdigit():
        is_float = True
        j += 1
        while j < n and text[j].isdigit():
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isdigit():
            is_float = True
            j = k
            while j < n and text[j].isdigit():
                j += 1
    if j < n and (text[j].isalpha() or text[j] == "_"):
        raise ExprError(j, f"unexpected {text[j]!r} after the number {text[start:j]}")
    literal = text[start:j]
    if is_float:
        tokens.append(Token("float", float(literal), start))
    else:
        value = int(literal)
        if value > INT64_MAX:
            raise ExprError(start, "integer literal is out of the 64-bit range")
        tokens.append(Token("int", value, start))
    return j


def _string(text: str, i: int, tokens: list[Token]) -> int:
    start = i
    raw = text[i] in "rR"
    if raw:
        i += 1
    quote = text[i]
    i += 1
    out: list[str] = []
    n = len(text)
    while True:
        if i >= n:
            raise ExprError(start, f"string is not closed (missing {quote})")
        c = text[i]
        if c == quote:
            tokens.append(Token("string", "".join(out), start))
            return i + 1
        if c == "\n":
            raise ExprError(start, f"string is not closed before the end of the line (missing {quote})")
        if c == "\\" and not raw:
            if i + 1 >= n:
                raise ExprError(i, "unfinished escape at the end of the expression")
            e = text[i + 1]
            if e in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[e])
                i += 2
            elif e in _HEX_ESCAPES:
                width = _HEX_ESCAPES[e]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    raise ExprError(i, f"\\{e} needs {width} hex digits")
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise ExprError(i, f"\\{e}{digits} is not a valid code point")
                out.append(chr(code))
                i += 2 + width
            elif e in "01234567":
                digits = text[i + 1 : i + 4]
                if len(digits) != 3 or any(d not in "01234567" for d in digits):
                    raise ExprError(i, "octal escapes need 3 digits, e.g. \\101")
                out.append(chr(int(digits, 8)))
                i += 4
            else:
                raise ExprError(i, f"unknown escape \\{e} (for a regex backslash write \\\\ or use a raw string r\"...\")")
        else:
            out.append(c)
            i += 1
