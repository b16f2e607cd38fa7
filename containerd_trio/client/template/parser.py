"""Reading a template: Go's text/template grammar, as far as it is taken, into a tree of nodes.

On the texts and actions :mod:`.lexer` reads: pipelines (``.a | json``), variables (``$``,
``$x := ...``, ``$x = ...``), and the control actions ``if``/``else if``/``else``/``end``,
``range`` (``$i, $e :=``, ``else``, ``break``, ``continue``) and ``with``/``else with``; and
templates by name: ``define`` (at the top only), ``template`` and ``block``. What cannot be
read is a :class:`TemplateError` naming the problem and the action it is in: the command
line's usage error, before any request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from .lexer import Action, Token, read, shown
from .values import FUNCTIONS, INT_PARAMETERS, TemplateError

# --- the tree -----------------------------------------------------------------------------------
# Plain classes, not dataclasses: importing dataclasses alone takes 6 ms (python -X importtime,
# bytecode cached) of a call of 80 ms (docs/cli.md, Speed).


class Node:
    """A value an action computes: evaluated by :mod:`.evaluator`."""

    __slots__ = ()

    def named(self, from_dot: bool, from_dollar: bool = True) -> Iterator[str]:
        """The top-level keys of the paths from the template's value in this node: those from
        the dot if it is the template's value (``from_dot``), and from ``$`` if it is
        (``from_dollar``: not in a template another calls with another value)."""
        return iter(())


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Variable(Node):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name  # "$" is the template's value


class Path(Node):
    """``.a.b``, ``$x.a.b`` or ``(pipeline).a.b``: keys looked up one after another from
    ``base``."""

    __slots__ = ("base", "keys", "written_base")

    def __init__(self, base: Node | None, keys: tuple[str, ...], written_base: str = "") -> None:
        self.base = base  # None: the dot
        self.keys = keys
        self.written_base = written_base  # ``(index .processes 0)`` as written, for a message

    def named(self, from_dot: bool, from_dollar: bool = True) -> Iterator[str]:
        if isinstance(self.base, Variable) and self.base.name == "$":
            if self.keys and from_dollar:
                yield self.keys[0]
        elif self.base is not None:
            yield from self.base.named(from_dot, from_dollar)
        elif self.keys and from_dot:
            yield self.keys[0]

    def prefix(self, depth: int) -> str:
        """The path up to key ``depth``, as written: ``.id`` of ``.id.name``."""
        return self.written_base + "".join(f".{key}" for key in self.keys[:depth]) or "."


class Call(Node):
    __slots__ = ("arguments", "name", "piped")

    def __init__(self, name: str, arguments: tuple[Node, ...], piped: bool = False) -> None:
        self.name = name
        self.arguments = arguments
        #: Whether the last argument is the value piped in (the command before's).
        self.piped = piped

    def named(self, from_dot: bool, from_dollar: bool = True) -> Iterator[str]:
        for argument in self.arguments:
            yield from argument.named(from_dot, from_dollar)


class Method(Call):
    """``.Label "team"``: a method of the template's value (``.`` at the top, or ``$``) called
    with arguments, docker's ps ``{{.Label "KEY"}}``; one the caller named to :func:`parse_tree`
    only (a key of a document takes none: its arguments are refused when read). A call whose
    arguments name what it names: the method is no key of the value."""

    __slots__ = ("base",)

    def __init__(
        self, base: Node | None, name: str, arguments: tuple[Node, ...], piped: bool
    ) -> None:
        super().__init__(name, arguments, piped)
        self.base = base  # None: the dot; else the variable $


class Pipe:
    """An action's pipeline, and the variables it declares (``:=``) or sets (``=``)."""

    __slots__ = ("assign", "node", "source", "variables")

    def __init__(self, variables: tuple[str, ...], assign: bool, node: Node, source: str) -> None:
        self.variables = variables
        self.assign = assign
        self.node = node
        self.source = source  # the action as written, for a message


class Control:
    """``if`` (``with_``: ``with``, the dot the value), or ``range``: a body, and another for
    a false value (``else``: empty for none)."""

    __slots__ = ("body", "keyword", "otherwise", "pipe")

    def __init__(self, keyword: str, pipe: Pipe, body: Body, otherwise: Body) -> None:
        self.keyword = keyword  # if, with, range
        self.pipe = pipe
        self.body = body
        self.otherwise = otherwise


class Include:
    """``{{template "name" pipeline}}`` (``pipe`` None: no value, Go's nil), or a ``block``'s
    use of what it defines."""

    __slots__ = ("name", "pipe", "source")

    def __init__(self, name: str, pipe: Pipe | None, source: str) -> None:
        self.name = name
        self.pipe = pipe
        self.source = source

    def passes_root(self, from_dot: bool, from_dollar: bool) -> bool:
        """Whether the value it passes is the template's value (``.`` or ``$`` where they are
        that): then the keys the called template names are top-level keys."""
        if self.pipe is None or not isinstance(self.pipe.node, Path) or self.pipe.node.keys:
            return False
        base = self.pipe.node.base
        if base is None:
            return from_dot
        return isinstance(base, Variable) and base.name == "$" and from_dollar


class Jump:
    """``{{break}}`` or ``{{continue}}``."""

    __slots__ = ("keyword",)

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword


Item = str | Pipe | Control | Include | Jump
Body = tuple[Item, ...]
#: The templates a text defines, by name; the text outside any ``define`` is ``""`` (docker's
#: name for it: ``{{define ""}}`` replaces it).
Definitions = dict[str, Body]


#: Go's keywords that begin an action of their own.
_CONTROL: Final = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


# --- the grammar --------------------------------------------------------------------------------


def parse_tree(text: str, methods: Mapping[str, int] | None = None) -> Definitions:
    """``text`` as trees, the templates it defines and itself (``""``); TemplateError naming
    what cannot be read, and where. ``methods`` are the methods the value has, each with the
    number of arguments it takes (ps's ``{"Label": 1}``): ``{{.Label "team"}}`` calls it."""
    parser = _Parser(read(text), text, methods or {})
    body, ending = parser.body(in_range=False, top=True)
    if ending is not None:
        raise TemplateError(f"unexpected {shown(ending.source)}")
    parser.add("", body, "the text outside {{define}}")
    return parser.definitions


def _is_empty(body: Body) -> bool:
    """Go's IsEmptyTree: white space (and comments) only. An empty definition gives way to
    another of the same name, and another does not replace it with nothing."""
    return all(isinstance(item, str) and not item.strip() for item in body)


class _Parser:
    """Go's grammar of a template, what of it is taken: ``pipeline := declaration? command
    ('|' command)*``, ``command := operand+`` (a function and its arguments, or one value),
    ``operand := ( '.' | '.key' | '$var' | '(' pipeline ')' | literal | function )
    ('.key')*``; control actions around bodies."""

    def __init__(self, parts: list[str | Action], text: str, methods: Mapping[str, int]) -> None:
        self._parts = parts
        self._methods = methods
        self._next = 0  # the part
        self._text = text  # the whole template: the tokens' starts are offsets in it
        self._variables = ["$"]  # those declared so far, in scope
        self.definitions: Definitions = {}
        # The action being read: its tokens, and which one is next.
        self._tokens: Sequence[Token] = ()
        self._at = 0
        self._source = ""

    # Bodies and control actions.

    def body(self, in_range: bool, top: bool = False) -> tuple[Body, Action | None]:
        """Items up to an ``{{end}}`` or ``{{else ...}}``, returned with it (None: the end of
        the template). ``define`` is taken at the ``top`` only, as Go's."""
        items: list[Item] = []
        while self._next < len(self._parts):
            part = self._parts[self._next]
            self._next += 1
            if isinstance(part, str):
                items.append(part)
                continue
            self._enter(part)
            keyword = self._keyword()
            if keyword in ("end", "else"):
                return tuple(items), part
            if keyword in ("if", "with", "range"):
                self._at += 1
                items.append(self._control(keyword, part, in_range))
            elif keyword == "define":
                if not top:
                    raise self._fail("unexpected <define> in command")
                self._at += 1
                self._define(part)
            elif keyword == "template":
                self._at += 1
                name = self._name("template clause")
                if (token := self._peek()) is not None and token.kind in "|),":
                    raise self._fail(f'unexpected "{token.value}" in template clause')
                pipe = None if token is None else self._pipe("template clause")
                items.append(Include(name, pipe, part.source))
            elif keyword == "block":
                self._at += 1
                items.append(self._block(part))
            elif keyword in ("break", "continue"):
                if not in_range:
                    raise TemplateError(f"{{{{{keyword}}}}} outside {{{{range}}}}: {self._source}")
                self._at += 1
                self._done()
                items.append(Jump(keyword))
            else:
                items.append(self._pipe(keyword or "command"))
        return tuple(items), None

    def _enter(self, action: Action) -> None:
        self._tokens, self._at, self._source = action.tokens, 0, action.source
        if not self._tokens:
            raise self._fail("an empty action")

    def _keyword(self) -> str | None:
        token = self._peek()
        if token is not None and token.kind == "word" and token.value in _CONTROL:
            return str(token.value)
        return None

    # Templates by name.

    def _name(self, context: str) -> str:
        """A template's name: a string constant, as Go's."""
        token = self._peek()
        if token is None or token.kind != "string":
            raise self._fail(
                f'unexpected "{"}}" if token is None else _written(token)}" in {context}'
            )
        self._at += 1
        return str(token.value)

    def _define(self, opening: Action) -> None:
        name = self._name("define clause")
        if (token := self._peek()) is not None:
            raise self._fail(f'unexpected "{_written(token)}" in define clause')
        self.add(name, self._definition(opening, "define clause"), opening.source)

    def _block(self, opening: Action) -> Include:
        """``{{block "name" pipeline}}body{{end}}``: defines name, and uses it here."""
        name = self._name("block clause")
        if self._peek() is None:
            raise self._fail("missing value for block clause")
        pipe = self._pipe("block clause")  # its variables are this scope's
        self.add(name, self._definition(opening, "block clause"), opening.source)
        return Include(name, pipe, opening.source)

    def _definition(self, opening: Action, context: str) -> Body:
        """A defined template's body to its ``{{end}}``: its own variables (``$`` only), and
        no range around it (a ``break`` in it is outside one)."""
        outside, self._variables = self._variables, ["$"]
        body, ending = self.body(in_range=False)
        self._variables = outside
        if ending is None:
            raise TemplateError(f"unexpected EOF: {shown(opening.source)} has no {{{{end}}}}")
        if self._keyword() == "else":
            raise self._fail(f"unexpected {{{{else}}}} in {context}")
        self._at += 1
        self._done()
        return body

    def add(self, name: str, body: Body, source: str) -> None:
        """A definition, as Go's Tree.add: one empty gives way, two are an error."""
        if name not in self.definitions or _is_empty(self.definitions[name]):
            self.definitions[name] = body
        elif not _is_empty(body):
            raise TemplateError(f'multiple definition of template "{name}", in {shown(source)}')

    def _control(self, keyword: str, opening: Action, in_range: bool) -> Control:
        """The rest of an ``if``, ``with`` or ``range`` action, its body, its ``else`` (``else
        if``/``else with``: another control, in this one's ``else``), and its ``end``."""
        scope = len(self._variables)  # what it declares lasts until its end
        pipe = self._pipe(keyword)
        body, ending = self.body(in_range or keyword == "range")
        otherwise: Body = ()
        if ending is not None and self._keyword() == "else":
            self._at += 1
            chained = self._keyword() if keyword != "range" else None
            if chained == keyword:  # {{else if ...}}: the end it needs is this one's
                self._at += 1
                otherwise = (self._control(keyword, opening, in_range),)
                del self._variables[scope:]
                return Control(keyword, pipe, body, otherwise)
            self._done()
            otherwise, ending = self.body(in_range)
            if ending is not None and self._keyword() == "else":
                raise self._fail("expected {{end}}; found a second {{else}}")
        if ending is None:
            raise TemplateError(f"unexpected EOF: {shown(opening.source)} has no {{{{end}}}}")
        self._at += 1
        self._done()
        del self._variables[scope:]
        return Control(keyword, pipe, body, otherwise)

    def _done(self) -> None:
        token = self._peek()
        if token is not None:
            raise self._fail(f'unexpected "{_written(token)}"')

    # Pipelines.

    def _peek(self) -> Token | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _fail(self, problem: str) -> TemplateError:
        return TemplateError(f"{problem}, in {shown(self._source)}")

    def _pipe(self, context: str) -> Pipe:
        """A pipeline to its action's end, after its declaration if it has one."""
        variables, assign = self._declaration(context)
        if self._peek() is None:
            raise self._fail(f"missing value for {context}")
        node = self._pipeline()
        self._done()
        if not assign:
            self._variables.extend(variables)
        return Pipe(tuple(variables), assign, node, self._source)

    def _declaration(self, context: str) -> tuple[list[str], bool]:
        """``$x :=``, ``$x =``, in a range ``$i, $e :=``; none: ``[]``."""
        variables: list[str] = []
        at = self._at
        while (
            at + 1 < len(self._tokens)
            and self._tokens[at].kind == "variable"
            and self._tokens[at + 1].kind in (":=", "=", ",")
        ):
            variables.append(self._tokens[at].value)
            separator = self._tokens[at + 1].kind
            at += 2
            if separator != ",":
                if len(variables) > (2 if context == "range" else 1):
                    raise self._fail(f"too many declarations in {context}")
                assign = separator == "="
                if assign:
                    for name in variables:
                        self._known(name)
                self._at = at
                return variables, assign
        return [], False

    def _known(self, name: str) -> None:
        if name not in self._variables:
            raise self._fail(f'undefined variable "{name}"')

    def _pipeline(self) -> Node:
        node = self._command(None)
        while (token := self._peek()) is not None and token.kind == "|":
            self._at += 1
            if (after := self._peek()) is None or after.kind == ")":
                break  # Go's: a | at the end is nothing ({{.id |}} is {{.id}})
            node = self._command(node)
        return node

    def _command(self, piped: Node | None) -> Node:
        operands: list[Node | str] = []  # a str: a function's name
        while (token := self._peek()) is not None and token.kind not in ("|", ")"):
            if token.kind in (":=", "=", ","):
                raise self._fail(f'unexpected "{token.value}"')
            if operands and not token.spaced:  # Go's: len"s", (a)(b) are no two operands
                raise self._fail(f"unexpected {json.dumps(self._as_written())} in operand")
            operands.append(self._operand())
        if not operands:
            raise self._fail("an empty command" + (" after |" if piped is not None else ""))
        head, *rest = operands
        if not isinstance(head, str):
            if (rest or piped is not None) and (name := self._method(head)) is not None:
                assert isinstance(head, Path)  # _method names a path's only
                return self._method_call(head, name, rest, piped)
            if rest or piped is not None:
                raise self._fail(
                    "a value is not a function: it takes no argument"
                    + (" (nor a piped value)" if piped is not None else "")
                )
            if isinstance(head, Literal) and head.value is None:
                raise self._fail("nil is not a command")
            return head
        # Go's: a function's name as an argument is a call of it with no argument (print html).
        written = [self._call(item, [], None) if isinstance(item, str) else item for item in rest]
        return self._call(head, written, piped)

    def _method(self, head: Node) -> str | None:
        """The name of the value's method ``head`` is (``.Label`` or ``$.Label``), or None."""
        if not isinstance(head, Path) or len(head.keys) != 1 or head.keys[0] not in self._methods:
            return None
        if head.base is None or (isinstance(head.base, Variable) and head.base.name == "$"):
            return head.keys[0]
        return None

    def _method_call(
        self, head: Path, name: str, rest: list[Node | str], piped: Node | None
    ) -> Method:
        """``.Label "team"`` (or ``"team" | .Label``): Go's method call, the number of its
        arguments checked as a function's are."""
        written = [self._call(item, [], None) if isinstance(item, str) else item for item in rest]
        arguments = [*written, *([piped] if piped is not None else [])]
        if len(arguments) != (want := self._methods[name]):
            raise self._fail(f"wrong number of args for {name}: want {want} got {len(arguments)}")
        return Method(head.base, name, tuple(arguments), piped is not None)

    def _as_written(self) -> str:
        """The next token as the template writes it: a number's or a character's text, not
        its value (.5, not 0.5)."""
        token = self._tokens[self._at]
        if token.kind != "number":
            return _written(token)
        following = self._tokens[self._at + 1 : self._at + 2]
        end = following[0].start if following else self._text.find("}}", token.start)
        return self._text[token.start : end].rstrip(" \t\r\n-")  # a trim marker's - too

    def _call(self, name: str, written: list[Node], piped: Node | None) -> Call:
        """A call of ``name`` with the arguments written, and the piped value last."""
        arguments = [*written, *([piped] if piped is not None else [])]
        _, least, most = FUNCTIONS[name]
        if len(arguments) < least or (most is not None and len(arguments) > most):
            want = f"at least {least}" if most is None else str(least)
            raise self._fail(f"wrong number of args for {name}: want {want} got {len(arguments)}")
        for at in INT_PARAMETERS.get(name, ()):
            # Go's: a constant written as a float that is a whole number is an int too, where
            # a function takes an int (truncate .id 1e3); not a piped value, already a float64.
            if at < len(written) and isinstance(constant := arguments[at], Literal):
                value = constant.value
                if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                    arguments[at] = Literal(int(value))
        return Call(name, tuple(arguments), piped=piped is not None)

    def _operand(self) -> Node | str:
        token = self._tokens[self._at]
        self._at += 1
        node: Node | str
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
            node = Path(None, (token.value,))
        elif token.kind == "dot":
            node = Path(None, ())
        elif token.kind == "variable":
            self._known(token.value)
            node, written = Variable(token.value), token.value
        elif token.kind in ("string", "number"):
            node = Literal(token.value)
        elif token.value in ("true", "false", "nil"):
            node = Literal({"true": True, "false": False, "nil": None}[token.value])
        else:
            node = self._function(token)
        keys = []
        while (field := self._peek()) is not None and field.kind == "field" and not field.spaced:
            # Keys go after a path, a variable or a parenthesized value only: not after "."
            # (..a), a literal or a function's name.
            if token.kind not in ("field", "(", "variable"):
                raise self._fail(f'unexpected "{_written(field)}" after "{_written(token)}"')
            keys.append(field.value)
            self._at += 1
        if not keys:
            return node
        assert isinstance(node, Node)  # a field, a variable or a ( made it
        if isinstance(node, Path) and node.base is None:
            return Path(None, (*node.keys, *keys))
        return Path(node, tuple(keys), written)

    def _function(self, token: Token) -> str:
        name = token.value
        if name in FUNCTIONS:
            return str(name)
        if name in _CONTROL:
            raise self._fail(f"{name} begins an action of its own: {{{{{name} ...}}}}")
        problem = f'function "{name}" not defined (the functions: {", ".join(FUNCTIONS)})'
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


def _written(token: Token) -> str:
    if token.kind == "field":
        return f".{token.value}"
    if token.kind == "string":
        return json.dumps(token.value)
    return str(token.value)
