"""``inspect --format`` and ``ps --format``: a small, strict subset of Go's text/template.

inspect's runs on a container's JSON; ps's on a container's fields (``{{.ID}}``, as docker's
ps names them: :data:`.output.FIELDS`), with docker's ps's ``\\t`` and ``table`` on top.

What docker users write in scripts, ``docker inspect -f '{{.State.Pid}}' web``, on the daemon's
documents (``GET /containers/ID``, keys as the daemon spells them: ``{{.state.status}}``):

- text, printed as written (no ``\\t`` escapes, as docker's inspect), around actions ``{{...}}``;
  ``{{- `` and `` -}}`` trim the white space before and after them;
- ``.`` (the whole document), ``.a.b`` (keys of objects), ``"string"`` (Go's escapes),
  `` `raw` ``, numbers, ``true`` and ``false``;
- the functions ``json X`` (compact JSON) and ``index X K...`` (an object's key, a list's
  position, as many as given), ``( ... )`` around a call (``(index .processes 0).pid``), and
  pipelines (``.state | json``: the value goes last).

A value prints as Go prints it on a ``map[string]interface{}`` (docker's fallback), but for
objects and lists: strings as they are, numbers as JSON's (``3``, ``0.5``), ``true``/``false``,
a missing key or a JSON null ``<no value>`` (Go's words for a map's missing key), and objects
and lists as compact JSON where Go prints ``map[a:1]`` and ``[1 2]``, which nothing reads back.
A key under a missing one is missing too (Go fails: ``nil pointer evaluating``).

Everything else of Go's (``if``, ``range``, variables, ``printf``, ``len``, comments) is refused
by :func:`parse`, with :class:`TemplateError` naming it: the command line's usage error, before
any request. A template that does not fit a container (a key of a string, an index past a
list's end) is that container's :class:`RenderError`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, NamedTuple

__all__ = ["NO_VALUE", "RenderError", "Template", "TemplateError", "compact", "parse"]

#: What Go prints for a map's missing key (and here for a JSON null).
NO_VALUE: Final = "<no value>"


class TemplateError(ValueError):
    """The template cannot be read: unclosed, an unknown function, a path without its dot."""


class RenderError(ValueError):
    """The template does not fit this value: a key of a string, an index past a list's end."""


class _Missing:
    """A key that is not there: ``<no value>``, and ``null`` to ``json``."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()

# --- evaluation ---------------------------------------------------------------------------------


#: What a decoded JSON value is, as a message names it.
_KINDS: Final[dict[type, str]] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), "a value")


def compact(value: Any) -> str:
    """JSON on one line, as docker's ``json`` writes it: UTF-8 as it is, not ``\\u00e9``, and
    ``<&>`` as they are (its encoder's SetEscapeHTML(false))."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _printed(value: Any) -> str:
    if value is MISSING or value is None:
        return NO_VALUE
    if isinstance(value, str):
        return value
    return compact(value)  # numbers as JSON's (3, not 3.0), true/false, objects and lists


def _json(value: Any) -> str:
    return "null" if value is MISSING else compact(value)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if value is MISSING or value is None:
            return MISSING
        if key is MISSING or key is None:
            raise RenderError(f"index {NO_VALUE} of {_kind(value)}")
        if isinstance(value, dict):
            if not isinstance(key, str):
                raise RenderError(f"index {compact(key)} of an object: its keys are strings")
            value = value.get(key, MISSING)
        elif isinstance(value, list):
            if not isinstance(key, int) or isinstance(key, bool):
                raise RenderError(
                    f"index {compact(key)} of a list: its positions are whole numbers"
                )
            if not 0 <= key < len(value):
                raise RenderError(f"index {key} of a list of {len(value)}")
            value = value[key]
        else:
            raise RenderError(f"index of {_kind(value)}")
    return value


#: The functions and how many arguments each takes (at least, for ``index``: its keys).
_FUNCTIONS: Final[dict[str, tuple[Callable[..., Any], int, bool]]] = {
    "json": (_json, 1, False),
    "index": (_index, 1, True),
}
#: Go's keywords: refused by name ("if is not supported"), not as unknown functions.
_UNSUPPORTED: Final = frozenset(
    {
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
    }
)


# Plain classes, not dataclasses: importing dataclasses alone takes 6 ms (python -X importtime,
# bytecode cached) of a call of 80 ms (docs/cli.md, Speed); this whole module, 0.6 ms.


class _Node:
    __slots__ = ()

    def evaluate(self, dot: Any) -> Any:
        raise NotImplementedError

    def named(self) -> Iterator[str]:
        """The top-level keys of the paths from the dot in this node (:meth:`Template.top_keys`)."""
        return iter(())


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def evaluate(self, dot: Any) -> Any:
        return self.value


class _Path(_Node):
    """``.a.b``, or ``(pipeline).a.b``: keys looked up one after another from ``base``."""

    __slots__ = ("base", "keys", "written_base")

    def __init__(self, base: _Node | None, keys: tuple[str, ...], written_base: str = "") -> None:
        self.base = base  # None: the dot
        self.keys = keys
        self.written_base = written_base  # ``(index .processes 0)`` as written, for a message

    def evaluate(self, dot: Any) -> Any:
        value = dot if self.base is None else self.base.evaluate(dot)
        for depth, key in enumerate(self.keys):
            if value is MISSING or value is None:
                return MISSING  # Go fails here; a key that comes and goes is no error
            if not isinstance(value, dict):
                where = self._prefix(depth)
                hint = ": index it" if isinstance(value, list) else ""
                raise RenderError(f'key "{key}" of {_kind(value)} ({where}){hint}')
            value = value.get(key, MISSING)
        return value

    def named(self) -> Iterator[str]:
        if self.base is not None:
            yield from self.base.named()
        elif self.keys:
            yield self.keys[0]

    def _prefix(self, depth: int) -> str:
        """The path up to key ``depth``, as written: ``.id`` of ``.id.name``."""
        return self.written_base + "".join(f".{key}" for key in self.keys[:depth]) or "."


class _Call(_Node):
    __slots__ = ("arguments", "name")

    def __init__(self, name: str, arguments: tuple[_Node, ...]) -> None:
        self.name = name
        self.arguments = arguments

    def evaluate(self, dot: Any) -> Any:
        function = _FUNCTIONS[self.name][0]
        return function(*(argument.evaluate(dot) for argument in self.arguments))

    def named(self) -> Iterator[str]:
        for argument in self.arguments:
            yield from argument.named()


class _Action(NamedTuple):
    pipeline: _Node
    source: str  # {{...}} as written, for a RenderError


class Template:
    """A parsed template: :meth:`render` it on each container's document."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str | _Action, ...]) -> None:
        self.parts = parts

    def render(self, value: Any) -> str:
        """The template on ``value`` (a decoded JSON document). RenderError, naming the action,
        where it does not fit."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                out.append(_printed(part.pipeline.evaluate(value)))
            except RenderError as exc:
                raise RenderError(f"{part.source}: {exc}") from None
        return "".join(out)

    def top_keys(self) -> tuple[str, ...]:
        """The top-level keys the template names, once each, in order: ``state`` of
        ``{{json .state.status}}``, wherever the path is (an argument, a pipeline, in
        parentheses). ``.`` alone and ``index . "k"`` name none. For a caller whose values
        have a fixed set of keys (ps's fields) to refuse an unknown one before any request."""
        return tuple(
            dict.fromkeys(
                k for p in self.parts if not isinstance(p, str) for k in p.pipeline.named()
            )
        )

    def split(self, separator: str) -> list[Template]:
        """The template cut at each ``separator`` in its text, not in an action (a string in
        one keeps it; one a trim marker took is gone): ps's ``table`` columns, cut at its tabs."""
        columns: list[list[str | _Action]] = [[]]
        for part in self.parts:
            if isinstance(part, str):
                first, *rest = part.split(separator)
                columns[-1].append(first)
                columns.extend([piece] for piece in rest)
            else:
                columns[-1].append(part)
        return [Template(tuple(part for part in column if part != "")) for column in columns]


# --- reading ------------------------------------------------------------------------------------

_SPACE: Final = " \t\r\n"
# A pattern, not compiled here: re's cache compiles it where a number is written (compiling
# patterns took most of this module's import, paid by every inspect -f).
_NUMBER: Final = r"(?a)[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"  # ASCII digits only
_ESCAPES: Final = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"',
}  # fmt: skip
_HEX: Final = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_SUBSET: Final = ": this is a subset of Go's templates (.keys, json, index)"


class _Token(NamedTuple):
    kind: str  # field, dot, word, string, number, ( ) |
    value: Any
    spaced: bool  # white space before it: .a.b is one path, .a .b two operands
    start: int


def parse(text: str) -> Template:
    """``text`` as a template; TemplateError naming what cannot be read, and where."""
    parts: list[str | _Action] = []
    position = 0
    while True:
        opening = text.find("{{", position)
        if opening < 0:
            parts.append(text[position:])
            break
        literal = text[position:opening]
        inner = opening + 2
        if text[inner : inner + 1] == "-" and _is_space(text[inner + 1 : inner + 2]):
            literal = literal.rstrip(_SPACE)
            inner += 2
        parts.append(literal)
        if "}}" not in text[inner:]:  # said so here: tokens would fail on whatever comes first
            raise TemplateError(f"unclosed action: {_shown(text[opening:])} has no }}}}")
        tokens, end, trim = _tokens(text, inner, opening)
        source = text[opening:end]
        parts.append(_Action(_Parser(tokens, text, source).action(), source))
        position = end
        if trim:
            position = len(text) - len(text[position:].lstrip(_SPACE))
    return Template(tuple(part for part in parts if part != ""))


def _tokens(text: str, position: int, opening: int) -> tuple[list[_Token], int, bool]:
    """The tokens of the action from ``position`` to its ``}}``; where it ends, and whether
    it ends with a trim marker."""
    tokens: list[_Token] = []
    spaced = False
    while True:
        if position >= len(text):
            raise TemplateError(f"unclosed action: {_shown(text[opening:])} has no }}}}")
        char = text[position]
        if char in _SPACE:
            spaced, position = True, position + 1
            continue
        if spaced and text.startswith("-}}", position):
            return tokens, position + 3, True
        if text.startswith("}}", position):
            return tokens, position + 2, False
        start = position
        if char in "()|":
            kind, value, position = char, char, position + 1
        elif char == ".":
            after = text[position + 1 : position + 2]
            if after == "_" or after.isalpha():
                end = _word_end(text, position + 1)
                kind, value, position = "field", text[position + 1 : end], end
            elif _is_digit(after):
                kind, value, position = _number(text, position)
            else:
                kind, value, position = "dot", ".", position + 1
        elif char == '"':
            kind, value, position = _quoted(text, position, opening)
        elif char == "`":
            close = text.find("`", position + 1)
            if close < 0:
                raise TemplateError(f"unterminated raw string in {_shown(text[opening:])}")
            kind, value, position = "string", text[position + 1 : close], close + 1
        elif _is_digit(char) or (char in "+-" and _is_digit(text[position + 1 : position + 2])):
            kind, value, position = _number(text, position)
        elif char == "_" or char.isalpha():
            end = _word_end(text, position)
            kind, value, position = "word", text[position:end], end
        elif char == "$" or text.startswith("/*", position):
            what = "$variables" if char == "$" else "comments"
            raise TemplateError(f"{what} are not supported{_SUBSET}, in {_shown(text[opening:])}")
        else:
            # .a-b: a key of other characters than a word's goes through index.
            after_key = bool(tokens) and tokens[-1].kind == "field" and not spaced
            hint = f' (a key with "{char}" in it: {{{{index .OBJECT "KEY"}}}})' if after_key else ""
            raise TemplateError(f'unexpected "{char}" in {_shown(text[opening:])}{hint}')
        tokens.append(_Token(kind, value, spaced, start))
        spaced = False


# One character, or none at the end of the text ('' is in every string: not in these).
def _is_space(char: str) -> bool:
    return char != "" and char in _SPACE


def _is_digit(char: str) -> bool:
    return char != "" and char in "0123456789"  # not str.isdigit: "²" is one, and no number


def _word_end(text: str, position: int) -> int:
    """Where the word at ``position`` ends: Go's identifiers, letters, digits and _ (Unicode's
    too)."""
    while position < len(text) and (text[position].isalnum() or text[position] == "_"):
        position += 1
    return position


def _number(text: str, position: int) -> tuple[str, Any, int]:
    match = re.compile(_NUMBER).match(text, position)
    assert match is not None  # called where a digit comes
    written = match.group()
    if not any(c in written for c in ".eE"):
        return "number", int(written), match.end()
    value = float(written)
    # Go's constants: 1e3 and 2.0 are whole numbers, and index takes them.
    return "number", int(value) if value.is_integer() else value, match.end()


def _quoted(text: str, position: int, opening: int) -> tuple[str, Any, int]:
    """A double-quoted string with Go's escapes, from ``position`` (its quote)."""
    chars: list[str] = []
    position += 1
    while True:
        char = text[position : position + 1]
        if char in ("", "\n"):
            raise TemplateError(f"unterminated string in {_shown(text[opening:])}")
        if char == '"':
            return "string", "".join(chars), position + 1
        if char != "\\":
            chars.append(char)
            position += 1
            continue
        escape = text[position + 1 : position + 2]
        if escape in _ESCAPES:
            chars.append(_ESCAPES[escape])
            position += 2
        elif escape in _HEX:
            digits = text[position + 2 : position + 2 + _HEX[escape]]
            if len(digits) < _HEX[escape] or not _HEX_DIGITS.issuperset(digits):
                raise TemplateError(
                    f"\\{escape} takes {_HEX[escape]} hex digits, in {_shown(text[opening:])}"
                )
            if int(digits, 16) > sys.maxunicode:
                raise TemplateError(
                    f"\\{escape}{digits} is no character, in {_shown(text[opening:])}"
                )
            chars.append(chr(int(digits, 16)))
            position += 2 + _HEX[escape]
        else:
            raise TemplateError(
                f"unknown escape \\{escape} in a string in {_shown(text[opening:])}"
                " (Go's: \\n \\t \\\\ \\\" \\xHH \\uHHHH ...)"
            )


def _shown(source: str) -> str:
    """The template's text from an action on, as a message quotes it (its first line, cut)."""
    line = source.split("\n", 1)[0]
    return line if len(line) <= 60 else line[:60] + "..."


class _Parser:
    """Go's grammar of an action, what of it is supported: ``pipeline := command ('|'
    command)*``, ``command := operand+`` (a function and its arguments, or one value),
    ``operand := ( '.' | '.key' | '(' pipeline ')' | literal | function ) ('.key')*``."""

    def __init__(self, tokens: Sequence[_Token], text: str, source: str) -> None:
        self._tokens = tokens
        self._at = 0
        self._text = text  # the whole template: the tokens' starts are offsets in it
        self._source = source  # this action's {{...}}

    def _peek(self) -> _Token | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _fail(self, problem: str) -> TemplateError:
        return TemplateError(f"{problem}, in {_shown(self._source)}")

    def action(self) -> _Node:
        if not self._tokens:
            raise self._fail("an empty action")
        node = self._pipeline()
        token = self._peek()
        if token is not None:
            raise self._fail(f'unexpected "{_written(token)}"')
        return node

    def _pipeline(self) -> _Node:
        node = self._command(None)
        while (token := self._peek()) is not None and token.kind == "|":
            self._at += 1
            node = self._command(node)
        return node

    def _command(self, piped: _Node | None) -> _Node:
        operands: list[_Node | str] = []  # a str: a function's name
        while (token := self._peek()) is not None and token.kind not in ("|", ")"):
            operands.append(self._operand())
        if not operands:
            raise self._fail("an empty command" + (" after |" if piped is not None else ""))
        head, *rest = operands
        if not isinstance(head, str):
            if rest or piped is not None:
                raise self._fail(
                    "a value is not a function: it takes no argument"
                    + (" (nor a piped value)" if piped is not None else "")
                    + "; the functions are json and index"
                )
            return head
        arguments: list[_Node] = []
        for argument in [*rest, *([piped] if piped is not None else [])]:
            if isinstance(argument, str):
                raise self._fail(f"a function as an argument goes in parentheses: ({argument} ...)")
            arguments.append(argument)
        _, count, more = _FUNCTIONS[head]
        if len(arguments) < count or (len(arguments) > count and not more):
            raise self._fail(
                f"{head} takes {count}{' or more' if more else ''} argument"
                f"{'s' if count != 1 or more else ''}, not {len(arguments)}"
            )
        return _Call(head, tuple(arguments))

    def _operand(self) -> _Node | str:
        token = self._tokens[self._at]
        self._at += 1
        node: _Node | str
        written = ""  # a parenthesized operand as written, for a path from it
        if token.kind == "(":
            node = self._pipeline()
            closing = self._peek()
            if closing is None or closing.kind != ")":
                raise self._fail("unclosed (")
            self._at += 1
            written = self._text[token.start : closing.start + 1]
        elif token.kind == ")":
            raise self._fail('unexpected ")"')
        elif token.kind == "field":
            node = _Path(None, (token.value,))
        elif token.kind == "dot":
            node = _Path(None, ())
        elif token.kind in ("string", "number"):
            node = _Literal(token.value)
        elif token.value in ("true", "false"):
            node = _Literal(token.value == "true")
        else:
            node = self._function(token)
        keys = []
        while (field := self._peek()) is not None and field.kind == "field" and not field.spaced:
            # Keys go after a path or a parenthesized value only: not after "." (..a), a
            # literal or a function's name.
            if token.kind not in ("field", "("):
                raise self._fail(f'unexpected "{_written(field)}" after "{_written(token)}"')
            keys.append(field.value)
            self._at += 1
        if not keys:
            return node
        assert isinstance(node, _Node)  # a field or a ( made it
        if isinstance(node, _Path) and node.base is None:
            return _Path(None, (*node.keys, *keys))
        return _Path(node, tuple(keys), written)

    def _function(self, token: _Token) -> str:
        name = token.value
        if name in _FUNCTIONS:
            return str(name)
        if name in _UNSUPPORTED:
            raise self._fail(f"{name} is not supported{_SUBSET}")
        problem = f'function "{name}" not defined (the functions are json and index)'
        # A key written without its dot (state.status for .state.status), or alone as a value:
        # say what was meant. Followed by arguments, it was meant as a function (printf .id).
        keys = [name]
        for field in self._tokens[self._at :]:
            if field.kind != "field" or field.spaced:
                break
            keys.append(field.value)
        after = self._tokens[self._at + len(keys) - 1 :]
        if len(keys) > 1 or not after or after[0].kind in ("|", ")"):
            problem += f"; a key starts with a dot: {{{{.{'.'.join(keys)}}}}}"
        raise self._fail(problem)


def _written(token: _Token) -> str:
    if token.kind == "field":
        return f".{token.value}"
    if token.kind == "string":
        return json.dumps(token.value)
    return str(token.value)
