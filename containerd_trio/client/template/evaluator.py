"""Running a template (:mod:`.parser`'s tree) on a value, as Go's text/template executes one.

``if`` and ``with`` take Go's truth (:func:`.values.truth`); ``range`` goes over a list, an
object (its keys sorted, as Go sorts a map's) or a whole number (Go 1.22's ``range 3``),
and to its ``else`` for an empty or missing one; ``break`` and ``continue`` leave a round.
Variables live until the ``end`` of the action that declared them (the template's, for one at
the top). ``{{template "name" value}}`` runs a defined template on the value, with its own
variables, ``$`` the value. What does not fit the value is a :class:`.values.RenderError` naming
the action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from .parser import (
    Body,
    Call,
    Control,
    Definitions,
    Include,
    Jump,
    Literal,
    Method,
    Node,
    Path,
    Pipe,
    Variable,
)
from .values import (
    FUNCTIONS,
    MISSING,
    RenderError,
    formatted,
    go_type,
    is_nil,
    kind,
    printed,
    truth,
)

#: How deep templates may call templates (Go's: 100000, which Python's stack does not hold; a
#: template calling itself without end stops here, with Go's words).
MAX_DEPTH: Final = 100


class _Jumped(Exception):
    """A ``{{break}}`` or ``{{continue}}``, on its way to its range."""

    def __init__(self, keyword: str) -> None:
        super().__init__(keyword)
        self.keyword = keyword


class _State:
    """One run of a template: what is printed, the variables in scope, innermost last, the
    templates it may call, how deep in calls it is, and the functions it runs in place of
    :data:`.values.FUNCTIONS`' (a table's header's); and the methods of the value it was
    given (ps's ``Label``), which that value has, wherever it is passed (``{{template "row"
    .}}``), and nothing else."""

    __slots__ = ("definitions", "depth", "functions", "methods", "out", "owner", "variables")

    def __init__(
        self,
        root: Any,
        definitions: Definitions,
        out: list[str],
        depth: int = 0,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        methods: Mapping[str, Callable[..., Any]] | None = None,
        owner: Any = None,
    ) -> None:
        self.out = out
        self.variables: list[list[Any]] = [["$", root]]
        self.definitions = definitions
        self.depth = depth
        self.functions = functions or {}
        self.methods = methods or {}
        #: The value the methods are of: the first template's (a called one's $ may be another).
        self.owner = root if owner is None else owner

    def lookup(self, name: str) -> Any:
        for variable in reversed(self.variables):
            if variable[0] == name:
                return variable[1]
        # Declared in an if's body and read in its else: Go reads that, and fails here too.
        raise RenderError(f"undefined variable: {name}")

    def set(self, name: str, value: Any) -> None:
        for variable in reversed(self.variables):
            if variable[0] == name:
                variable[1] = value
                return
        raise RenderError(f"undefined variable: {name}")


class Template:
    """A template read by :func:`~containerd_trio.client.template.parse`, to render on each
    container's document."""

    __slots__ = ("body", "definitions")

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions
        self.body = definitions[""]

    def render(
        self,
        value: Any,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        methods: Mapping[str, Callable[..., Any]] | None = None,
    ) -> str:
        """The template on ``value`` (a decoded JSON document). RenderError, naming the action,
        where it does not fit. ``functions`` run in place of those of the same names, as Go's
        ``Funcs`` replaces them (docker's table headers' :data:`.values.HEADER_FUNCTIONS`);
        ``methods`` are ``value``'s, for the template's method calls (``{{.Label "team"}}``:
        parsed with their names)."""
        state = _State(value, self.definitions, [], functions=functions, methods=methods)
        _walk(self.body, value, state)
        return "".join(state.out)

    def top_keys(self) -> tuple[str, ...]:
        """The top-level keys the template names, once each, in order: ``state`` of
        ``{{json .state.status}}``, wherever the path is (an argument, a pipeline, in
        parentheses, an if's body, ``$.state`` in a range). ``.`` alone and ``index . "k"``
        name none. For a caller whose values have a fixed set of keys (ps's fields) to refuse
        an unknown one before any request."""
        return tuple(dict.fromkeys(_named(self.body, True, True, self.definitions, set())))

    def split(self, separator: str) -> list[Template]:
        """The template cut at each ``separator`` in its text, not in an action (a string in
        one keeps it; one a trim marker took is gone), nor in an if's or a range's body: ps's
        ``table`` columns, cut at its tabs."""
        columns: list[list[Any]] = [[]]
        for item in self.body:
            if isinstance(item, str):
                first, *rest = item.split(separator)
                columns[-1].append(first)
                columns.extend([piece] for piece in rest)
            else:
                columns[-1].append(item)
        return [
            Template({**self.definitions, "": tuple(item for item in column if item != "")})
            for column in columns
        ]


def _named(
    body: Body,
    from_dot: bool,
    from_dollar: bool,
    definitions: Definitions,
    seen: set[tuple[str, bool]],
) -> Iterator[str]:
    for item in body:
        if isinstance(item, Pipe):
            yield from item.node.named(from_dot, from_dollar)
        elif isinstance(item, Control):
            yield from item.pipe.node.named(from_dot, from_dollar)
            # The dot of a with's or a range's body is their value, not the template's.
            inner = from_dot and item.keyword == "if"
            yield from _named(item.body, inner, from_dollar, definitions, seen)
            yield from _named(item.otherwise, from_dot, from_dollar, definitions, seen)
        elif isinstance(item, Include):
            if item.pipe is not None:
                yield from item.pipe.node.named(from_dot, from_dollar)
            # In the template it calls, . and $ are the value passed: the template's value
            # only if that is . or $ here, and they are it.
            root = item.passes_root(from_dot, from_dollar)
            if item.name in definitions and (item.name, root) not in seen:
                seen.add((item.name, root))  # once each: a template may call itself
                yield from _named(definitions[item.name], root, root, definitions, seen)


def _walk(body: Body, dot: Any, state: _State) -> None:
    for item in body:
        if isinstance(item, str):
            state.out.append(item)
        elif isinstance(item, Pipe):
            value = _pipe(item, dot, state)
            if not item.variables:  # a declaration prints nothing
                state.out.append(printed(value))
        elif isinstance(item, Include):
            _include(item, dot, state)
        elif isinstance(item, Control):
            mark = len(state.variables)
            try:
                if item.keyword == "range":
                    _range(item, dot, state)
                else:
                    value = _pipe(item.pipe, dot, state)
                    if truth(value):
                        _walk(item.body, value if item.keyword == "with" else dot, state)
                    else:
                        _walk(item.otherwise, dot, state)
            finally:
                del state.variables[mark:]  # its variables end with it
        else:
            assert isinstance(item, Jump)
            raise _Jumped(item.keyword)


def _include(item: Include, dot: Any, state: _State) -> None:
    """``{{template "name" value}}``: the template on the value (nil without one), its own
    variables, ``$`` the value; what it prints goes where this action is."""
    value = None if item.pipe is None else _pipe(item.pipe, dot, state)
    body = state.definitions.get(item.name)
    if body is None:  # Go's: known when it runs ({{if false}}{{template "x"}}{{end}} is fine)
        raise RenderError(f'{item.source}: template "{item.name}" not defined')
    if state.depth >= MAX_DEPTH:
        raise RenderError(f"{item.source}: exceeded maximum template depth ({MAX_DEPTH})")
    called = _State(
        value,
        state.definitions,
        state.out,
        state.depth + 1,
        state.functions,
        state.methods,
        state.owner,
    )
    _walk(body, value, called)


def _pipe(pipe: Pipe, dot: Any, state: _State) -> Any:
    """The pipeline's value, its variables declared or set to it."""
    value = _value(pipe, dot, state)
    for name in pipe.variables:
        if pipe.assign:
            state.set(name, value)
        else:
            state.variables.append([name, value])
    return value


def _value(pipe: Pipe, dot: Any, state: _State) -> Any:
    try:
        return _evaluate(pipe.node, dot, state)
    except RenderError as exc:
        raise RenderError(f"{pipe.source}: {exc}") from None


def _range(item: Control, dot: Any, state: _State) -> None:
    pipe = item.pipe
    value = _pipe(pipe, dot, state)  # Go declares its variables first, with the whole value
    rounds: list[tuple[Any, Any]]
    if is_nil(value):
        rounds = []  # Go's: "an invalid value is likely a nil map": no error
    elif isinstance(value, list):
        rounds = list(enumerate(value))
    elif isinstance(value, dict):
        rounds = sorted(value.items())
    elif isinstance(value, int) and not isinstance(value, bool):
        if len(pipe.variables) > 1:
            raise RenderError(
                f"{pipe.source}: can't use {value} to iterate over more than one variable"
            )
        rounds = [(number, number) for number in range(value)]
    else:
        raise RenderError(f"{pipe.source}: range can't iterate over {formatted(value)}")
    if not rounds:
        try:
            _walk(item.otherwise, dot, state)
        except _Jumped as jump:
            # Go's walkRange recovers a break from its else too: it ends this range action,
            # not the one around it (a continue goes on to that one's next round).
            if jump.keyword != "break":
                raise
        return
    # One variable is the element; two, the index (or key) and the element.
    names = pipe.variables
    for index, element in rounds:
        if names:
            for name, each in zip(names, (index, element)[-len(names) :], strict=True):
                state.set(name, each)
        mark = len(state.variables)
        try:
            _walk(item.body, element, state)
        except _Jumped as jump:
            if jump.keyword == "break":
                break
        finally:
            del state.variables[mark:]


def _evaluate(node: Node, dot: Any, state: _State) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Variable):
        return state.lookup(node.name)
    if isinstance(node, Path):
        return _path(node, dot, state)
    if isinstance(node, Method):
        return _method(node, dot, state)
    assert isinstance(node, Call)
    # A piped value is the command before's, run first as Go runs a pipeline's commands in
    # turn: and/or's short circuit skips only the arguments written (Go's evalCall is given
    # the piped one evaluated), so its failure is the template's, as Go's.
    written = node.arguments[:-1] if node.piped else node.arguments
    final = [_evaluate(node.arguments[-1], dot, state)] if node.piped else []
    if node.name in ("and", "or"):
        # Go 1.18's: the arguments one by one, the first that decides returned as it is;
        # the piped value if none did.
        value: Any = None
        for argument in written:
            value = _evaluate(argument, dot, state)
            if truth(value) != (node.name == "and"):
                return value
        return final[0] if final else value
    arguments = [_evaluate(argument, dot, state) for argument in written]
    function = state.functions.get(node.name) or FUNCTIONS[node.name][0]
    return function(*arguments, *final)


def _method(node: Method, dot: Any, state: _State) -> Any:
    """``{{.Label "team"}}``: the method of the value it is called on, which only the value the
    template was given has (in a ``with``'s or a range's body the dot is another: Go's words
    then). The piped value is evaluated first, as a function's."""
    receiver = dot if node.base is None else _evaluate(node.base, dot, state)
    final = [_evaluate(node.arguments[-1], dot, state)] if node.piped else []
    if receiver is not state.owner or node.name not in state.methods:
        raise RenderError(f"can't evaluate field {node.name} in type {go_type(receiver)}")
    written = node.arguments[:-1] if node.piped else node.arguments
    arguments = [_evaluate(argument, dot, state) for argument in written]
    return state.methods[node.name](*arguments, *final)


def _path(node: Path, dot: Any, state: _State) -> Any:
    value = dot if node.base is None else _evaluate(node.base, dot, state)
    for depth, key in enumerate(node.keys):
        if is_nil(value):
            return MISSING  # Go fails here; a key that comes and goes is no error
        if not isinstance(value, dict):
            hint = ": index it" if isinstance(value, list) else ""
            raise RenderError(f'key "{key}" of {kind(value)} ({node.prefix(depth)}){hint}')
        value = value.get(key, MISSING)
    return value
