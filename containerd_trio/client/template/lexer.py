"""Reading a template's text: texts and actions ``{{...}}``, and the tokens in each action.

``{{- `` and `` -}}`` trim the white space beside an action; ``{{/* comments */}}`` are dropped;
in an action, Go's tokens: ``.key``, ``.``, ``$variable``, ``"strings"`` and `` `raw` ``,
numbers and ``'c'`` characters (:mod:`.literals`), words (functions, keywords), ``( ) | := =
,``. What cannot be read is a :class:`.values.TemplateError` naming the action.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from .literals import character, number, quoted
from .values import TemplateError

_SPACE: Final = " \t\r\n"


class Token(NamedTuple):
    kind: str  # field, dot, word, variable, string, number, ( ) | := = ,
    value: Any
    spaced: bool  # white space before it: .a.b is one path, .a .b two operands
    start: int


class Action(NamedTuple):
    tokens: list[Token]
    source: str  # {{...}} as written


def read(text: str) -> list[str | Action]:
    """The template's texts and actions, trim markers applied, comments dropped."""
    parts: list[str | Action] = []
    position = 0
    while True:
        opening = text.find("{{", position)
        if opening < 0:
            parts.append(text[position:])
            return [part for part in parts if part != ""]
        literal = text[position:opening]
        inner = opening + 2
        if text[inner : inner + 1] == "-" and _is_space(text[inner + 1 : inner + 2]):
            literal = literal.rstrip(_SPACE)
            inner += 2
        parts.append(literal)
        if "}}" not in text[inner:]:  # said so here: tokens would fail on whatever comes first
            raise TemplateError(f"unclosed action: {shown(text[opening:])} has no }}}}")
        if text.startswith("/*", inner):
            end, trim = _comment(text, inner, opening)
        else:
            tokens, end, trim = _tokens(text, inner, opening)
            parts.append(Action(tokens, text[opening:end]))
        position = end
        if trim:
            position = len(text) - len(text[position:].lstrip(_SPACE))


def _comment(text: str, position: int, opening: int) -> tuple[int, bool]:
    """Go's: ``{{/* ... */}}`` or ``{{- /* ... */ -}}``, nothing else in the action."""
    close = text.find("*/", position + 2)
    if close < 0:
        raise TemplateError(f"unclosed comment: {shown(text[opening:])}")
    after = close + 2
    if text.startswith("}}", after):
        return after + 2, False
    if text.startswith("-}}", after + 1) and _is_space(text[after]):
        return after + 4, True
    raise TemplateError(f"comment ends before closing delimiter: {shown(text[opening:])}")


def _tokens(text: str, position: int, opening: int) -> tuple[list[Token], int, bool]:
    """The tokens of the action from ``position`` to its ``}}``; where it ends, and whether
    it ends with a trim marker."""
    tokens: list[Token] = []
    spaced = False
    while True:
        if position >= len(text):
            raise TemplateError(f"unclosed action: {shown(text[opening:])} has no }}}}")
        char = text[position]
        if char in _SPACE:
            spaced, position = True, position + 1
            continue
        if spaced and text.startswith("-}}", position):
            return tokens, position + 3, True
        if text.startswith("}}", position):
            return tokens, position + 2, False
        start = position
        value: Any
        if char in "()|,=":
            kind, value, position = char, char, position + 1
        elif text.startswith(":=", position):
            kind, value, position = ":=", ":=", position + 2
        elif char == ".":
            after = text[position + 1 : position + 2]
            if after == "_" or after.isalpha():
                end = _word_end(text, position + 1)
                kind, value, position = "field", text[position + 1 : end], end
            elif _is_digit(after):
                kind = "number"
                value, position = number(text, position, shown(text[opening:]))
            else:
                kind, value, position = "dot", ".", position + 1
        elif char == "$":
            end = _word_end(text, position + 1)
            if text.startswith("=", end):  # Go's: $x= is no assignment, $x = and $x:= are
                raise TemplateError(f"bad character U+003D '=' in {shown(text[opening:])}")
            kind, value, position = "variable", text[position:end], end
        elif char == '"':
            kind = "string"
            value, position = quoted(text, position, shown(text[opening:]))
        elif char == "'":
            kind = "number"  # Go's: a character constant is a number, its code
            value, position = character(text, position, shown(text[opening:]))
        elif char == "`":
            close = text.find("`", position + 1)
            if close < 0:
                raise TemplateError(f"unterminated raw string in {shown(text[opening:])}")
            kind, value, position = "string", text[position + 1 : close], close + 1
        elif _is_digit(char) or (char in "+-" and _starts_number(text, position + 1)):
            kind = "number"
            value, position = number(text, position, shown(text[opening:]))
        elif char == "_" or char.isalpha():
            end = _word_end(text, position)
            kind, value, position = "word", text[position:end], end
        elif text.startswith("/*", position):
            raise TemplateError(
                "a comment starts right after {{ (or {{- ) and ends right before }} (or -}}):"
                f" {shown(text[opening:])}"
            )
        else:
            # .a-b: a key of other characters than a word's goes through index.
            after_key = bool(tokens) and tokens[-1].kind == "field" and not spaced
            hint = f' (a key with "{char}" in it: {{{{index .OBJECT "KEY"}}}})' if after_key else ""
            raise TemplateError(f'unexpected "{char}" in {shown(text[opening:])}{hint}')
        tokens.append(Token(kind, value, spaced, start))
        spaced = False


# One character, or none at the end of the text ('' is in every string: not in these).
def _is_space(char: str) -> bool:
    return char != "" and char in _SPACE


def _starts_number(text: str, position: int) -> bool:
    """A digit, or a point and a digit (-.5), at ``position``: a sign before them is one."""
    return _is_digit(text[position : position + 1]) or (
        text.startswith(".", position) and _is_digit(text[position + 1 : position + 2])
    )


def _is_digit(char: str) -> bool:
    return char != "" and char in "0123456789"  # not str.isdigit: "²" is one, and no number


def _word_end(text: str, position: int) -> int:
    """Where the word at ``position`` ends: Go's identifiers, letters, digits and _ (Unicode's
    too)."""
    while position < len(text) and (text[position].isalnum() or text[position] == "_"):
        position += 1
    return position


def shown(source: str) -> str:
    """The template's text from an action on, as a message quotes it (its first line, cut)."""
    line = source.split("\n", 1)[0]
    return line if len(line) <= 60 else line[:60] + "..."
