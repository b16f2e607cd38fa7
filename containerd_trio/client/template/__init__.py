"""``inspect --format`` and ``ps --format``: Go's text/template, docker's language, on JSON.

inspect's runs on a container's JSON; ps's on a container's fields (``{{.ID}}``, as docker's
ps names them: :data:`..output.FIELDS`), with docker's ps's ``\\t`` and ``table`` on top.

What docker users write in scripts, ``docker inspect -f '{{.State.Pid}}' web``, on the daemon's
documents (``GET /containers/ID``, keys as the daemon spells them: ``{{.state.status}}``):
fields, pipelines, variables, ``if``/``range``/``with`` and Go's functions with docker's
(docs/cli.md lists them). :func:`parse` reads a template (:mod:`.parser`) or says what is wrong
with it, a :class:`TemplateError`: the command line's usage error, before any request.
:meth:`Template.render` runs it on a value (:mod:`.evaluator`, with :mod:`.values` and
:mod:`.printf`); a template that does not fit a container (a key of a string, an index past a
list's end) is that container's :class:`RenderError`.

Where it differs from Go on purpose: objects and lists print as compact JSON (Go's
``map[a:1]`` and ``[1 2]`` nothing reads back), a JSON null as a missing key (``<no value>``),
and a key under a missing one is missing too (Go fails: ``nil pointer evaluating``), as is an
index of one; json keeps the daemon's key order (Go sorts a map's); a call with the wrong
number of arguments is refused when the template is read, before any request (Go's fails when
it runs); templates call templates 100 deep at most (Go's: 100000).
"""

from __future__ import annotations

from collections.abc import Mapping

from .evaluator import Template
from .jsonout import compact
from .parser import parse_tree
from .values import HEADER_FUNCTIONS, NO_VALUE, RenderError, TemplateError

__all__ = [
    "HEADER_FUNCTIONS",
    "NO_VALUE",
    "RenderError",
    "Template",
    "TemplateError",
    "compact",
    "parse",
]


def parse(text: str, methods: Mapping[str, int] | None = None) -> Template:
    """``text`` as a template; TemplateError naming what cannot be read, and where.
    ``methods``: the methods of the value it runs on, each with the number of its arguments
    (ps's ``{"Label": 1}``), given to :meth:`Template.render`."""
    return Template(parse_tree(text, methods))
