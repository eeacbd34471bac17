"""Tokens of the condition language (CEL syntax).

Every token carries its offset in the expression so errors can point at it.
A lexical error is recorded and reading goes on (an ``invalid`` token stands
where a value could not be read), so one pass reports every error.
"""

from __future__ import annotations

import math
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
    kind: str  # int, float, string, ident, op, invalid (an unreadable value, already reported), eof
    value: object
    pos: int  # offset in the expression


# A lone "=", "&" or "|" is read as the operator that was almost certainly meant,
# so the error is reported once and the rest of the condition still parses.
_MEANT = {"=": ("==", " (use == to compare)"), "&": ("&&", " (use && and || for logic)"),
          "|": ("||", " (use && and || for logic)")}


def tokenize(text: str, errors: list[ExprError] | None = None) -> list[Token]:
    """The tokens of ``text``; each error is appended to ``errors`` (without it, the first is raised)."""
    found: list[ExprError] = [] if errors is None else errors
    before = len(found)
    tokens = _tokens(text, found)
    if errors is None and len(found) > before:
        raise found[before]
    return tokens


def _tokens(text: str, errors: list[ExprError]) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            i = _number(text, i, tokens, errors)
        elif c in "\"'" or (c in "rR" and i + 1 < n and text[i + 1] in "\"'"):
            i = _string(text, i, tokens, errors)
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
        elif c in _MEANT:
            meant, hint = _MEANT[c]
            errors.append(ExprError(i, f"unexpected character {c!r}{hint}"))
            tokens.append(Token("op", meant, i))
            i += 1
        else:
            errors.append(ExprError(i, f"unexpected character {c!r}"))
            i += 1
    tokens.append(Token("eof", None, n))
    return tokens


def _number(text: str, i: int, tokens: list[Token], errors: list[ExprError]) -> int:
    n = len(text)
    start = i
    if text.startswith(("0x", "0X"), i):
        j = i + 2
        while j < n and text[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            return _invalid(start, j, "hex literal needs digits after 0x", tokens, errors)
        value = int(text[i + 2 : j], 16)
        if value > INT64_MAX:
            return _invalid(start, j, "integer literal is out of the 64-bit range", tokens, errors)
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
    literal = text[start:j]
    if j < n and (text[j].isalpha() or text[j] == "_"):
        end = j
        while end < n and (text[end].isalnum() or text[end] == "_"):
            end += 1
        errors.append(ExprError(j, f"unexpected {text[j]!r} after the number {literal}"))
        tokens.append(Token("invalid", None, start))
        return end
    if is_float:
        value = float(literal)
        if not math.isfinite(value):
            # an infinite threshold would make every comparison with it constant
            return _invalid(start, j, f"number {literal} is too large: it would be infinite; write a finite number",
                            tokens, errors)
        tokens.append(Token("float", value, start))
    else:
        value = int(literal)
        if value > INT64_MAX:
            return _invalid(start, j, "integer literal is out of the 64-bit range", tokens, errors)
        tokens.append(Token("int", value, start))
    return j


def _invalid(start: int, end: int, message: str, tokens: list[Token], errors: list[ExprError]) -> int:
    """Record an unreadable value: its error, and an invalid token in its place."""
    errors.append(ExprError(start, message))
    tokens.append(Token("invalid", None, start))
    return end


def _string(text: str, i: int, tokens: list[Token], errors: list[ExprError]) -> int:
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
            return _invalid(start, i, f"string is not closed (missing {quote})", tokens, errors)
        c = text[i]
        if c == quote:
            tokens.append(Token("string", "".join(out), start))
            return i + 1
        if c == "\n":
            return _invalid(start, i, f"string is not closed before the end of the line (missing {quote})",
                            tokens, errors)
        if c == "\\" and not raw:
            if i + 1 >= n:
                return _invalid(i, n, "unfinished escape at the end of the expression", tokens, errors)
            e = text[i + 1]
            if e in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[e])
                i += 2
            elif e in _HEX_ESCAPES:
                width = _HEX_ESCAPES[e]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    errors.append(ExprError(i, f"\\{e} needs {width} hex digits"))
                    i += 2
                    continue
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    errors.append(ExprError(i, f"\\{e}{digits} is not a valid code point"))
                else:
                    out.append(chr(code))
                i += 2 + width
            elif e in "01234567":
                digits = text[i + 1 : i + 4]
                if len(digits) != 3 or any(d not in "01234567" for d in digits):
                    errors.append(ExprError(i, "octal escapes need 3 digits, e.g. \\101"))
                    i += 2
                    continue
                out.append(chr(int(digits, 8)))
                i += 4
            else:
                errors.append(ExprError(i, f"unknown escape \\{e} (for a regex backslash write \\\\ or use a raw string r\"...\")"))
                i += 2
        else:
            out.append(c)
            i += 1
