"""``inspect --format``'s templates (containerd_trio/client/template.py): pure, no daemon.

What each construct prints is checked against what Go's text/template prints for the same
template on the same JSON decoded into ``map[string]interface{}`` (docker's fallback), where
the two agree; where they differ on purpose (objects and lists print as JSON, a key under a
missing one is ``<no value>``), the test says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from containerd_trio.client.template import RenderError, TemplateError, parse

#: A container as GET /containers/{id} answers, trimmed.
WEB: dict[str, Any] = {
    "id": "web",
    "bundlePath": "/containers/web",
    "state": {"status": "stopped", "exitStatus": 3},
    "processes": [
        {"pid": 4242, "args": ["sleep", "100"], "user": {"uid": 0, "gid": 0}, "terminal": False},
        {"pid": 4343, "args": ["sh"], "user": {"uid": 1000, "gid": 1000}, "terminal": True},
    ],
    "createdAt": "2026-12-01T10:00:00.123456789Z",
    "labels": {"team": "infra", "a-b": "dashed", "0": "zero", "uni": "caf\u00e9 <&>"},
    "resources": {"cpu": {"quota": 50000, "period": 100000}, "ratio": 0.5},
    "autoRemove": True,
    "nothing": None,
}


def render(text: str, value: Any = WEB) -> str:
    return parse(text).render(value)


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("{{.id}}", "web"),
        ("{{.state.status}}", "stopped"),
        ("{{.state.exitStatus}}", "3"),  # a whole number, no .0
        ("{{.resources.ratio}}", "0.5"),
        ("{{.autoRemove}}", "true"),
        ("{{.labels}}", '{"team":"infra","a-b":"dashed","0":"zero","uni":"caf\u00e9 <&>"}'),
        ("{{ .id }}", "web"),  # spaces inside an action are no part of it
        ("  {{- .id -}}  \n", "web"),  # trim markers eat the white space beside them
        ('{{"lit"}}\t{{`raw\\n`}}', "lit\traw\\n"),  # literal text and raw strings as written
        (r"{{.id}}\t{{.id}}", r"web\tweb"),  # as docker's inspect: no escapes in the text
        ('{{"tab\\there"}}', "tab\there"),  # Go's escapes in a quoted string
        (r'{{"\x41\u00e9"}}', "A\u00e9"),
        ("{{3}} {{-7}} {{true}} {{1e3}} {{2.5}}", "3 -7 true 1000 2.5"),
        ("no actions at all }} {", "no actions at all }} {"),
    ],
)
def test_what_a_value_prints_as(text: str, printed: str) -> None:
    assert render(text) == printed


def test_objects_and_lists_print_as_compact_json() -> None:
    """Go prints them as ``map[id:web ...]`` and ``[map[pid:4242 ...]]``, which no tool reads
    back; JSON is what the daemon sent, and what ``json`` prints."""
    assert render("{{.processes}}") == render("{{json .processes}}")
    assert render("{{.processes}}").startswith('[{"pid":4242,"args":["sleep","100"],')
    assert render("{{.}}") == render("{{json .}}")
    assert render("id={{.id}} p={{.processes}}").startswith('id=web p=[{"pid":4242,')


def test_a_missing_key_prints_no_value_as_go_for_a_map() -> None:
    """And ``null`` to json. A JSON null prints as Go prints a map's nil, ``<no value>``. Go
    fails on a key under a missing one (nil pointer evaluating interface {}.b); here the whole
    path is missing, as a script testing for a key that comes and goes wants it."""
    for path in (".nosuch", ".state.nosuch", ".nothing", ".nosuch.deeper", ".nothing.deeper"):
        assert render(f"{{{{{path}}}}}") == "<no value>", path
        assert render(f"{{{{json {path}}}}}") == "null", path
    # A running container has no exitStatus: the same template works on both.
    running = {**WEB, "state": {"status": "running"}}
    assert render("{{.state.status}} {{.state.exitStatus}}", running) == "running <no value>"


def test_json_prints_compact_json() -> None:
    assert render("{{json .state}}") == '{"status":"stopped","exitStatus":3}'
    assert render("{{json .id}}") == '"web"'
    assert render("{{json .state.exitStatus}}") == "3"
    # Not escaped to ASCII, nor HTML-escaped (docker's json sets SetEscapeHTML(false)).
    assert render("{{json .labels.uni}}") == '"caf\u00e9 <&>"'
    # docker's shorthand: the whole container on one line, as the daemon sent it.
    import json

    assert json.loads(render("{{json .}}")) == WEB
    assert "\n" not in render("{{json .}}")
    # A pipeline: the value goes to the function as its last argument.
    assert render("{{.state | json}}") == render("{{json .state}}")
    assert render("{{(json .id)}}") == '"web"'


def test_index_takes_map_keys_and_list_positions() -> None:
    assert render('{{index .labels "team"}}') == "infra"
    assert render('{{index .labels "a-b"}} {{index .labels "0"}}') == "dashed zero"
    assert render('{{index .labels "nosuch"}}') == "<no value>"
    assert render('{{index .nosuch "team"}}') == "<no value>"
    assert render("{{index .processes 1}}").startswith('{"pid":4343,')
    assert render("{{(index .processes 0).pid}}") == "4242"
    assert render("{{(index .processes 1).user.uid}}") == "1000"
    assert render('{{index .processes 0 "args" 1}}') == "100"  # several keys: one after another
    assert render("{{index .processes}}").startswith("[{")  # no key: the value itself
    assert render("{{json (index .processes 0).args}}") == '["sleep","100"]'
    assert render('{{"team" | index .labels}}') == "infra"  # piped: the last argument


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.id", "unclosed action"),
        ("x {{.id}} {{json .state", "unclosed action"),
        ("{{.id}", "unclosed action"),
        ("{{printf .id}}", 'function "printf" not defined'),
        ("{{len .processes}}", 'function "len" not defined'),
        ("{{state.status}}", "{{.state.status}}"),  # the path without its dot: what was meant
        ("{{id}}", "a key starts with a dot: {{.id}}"),
        ("{{}}", "an empty action"),
        ("{{ }}", "an empty action"),
        ("{{.id |}}", "an empty command"),
        ("{{.id .state}}", "is not a function"),
        ("{{.id | .state}}", "is not a function"),
        ("{{json}}", "json takes 1 argument, not 0"),
        ("{{json .id .state}}", "json takes 1 argument, not 2"),
        ("{{.id | json .state}}", "json takes 1 argument, not 2"),
        ("{{index}}", "index takes"),
        ("{{(json .id}}", "unclosed ("),
        ("{{json .id)}}", 'unexpected ")"'),
        ("{{.a-b}}", "index"),  # a key that is not a word: the way to it is index
        ('{{"unterminated}}', "unterminated string"),
        ('{{"bad \\q"}}', "unknown escape \\q"),
        (r'{{"\x4"}}', "\\x takes 2 hex digits"),
        ("{{if .id}}x{{end}}", "if is not supported"),
        ("{{range .processes}}{{.pid}}{{end}}", "range is not supported"),
        ("{{$x := .id}}", "variables"),
        ("{{..id}}", "unexpected"),
        ("{{\u00b2}}", 'unexpected "\u00b2"'),  # a digit to str.isdigit, no number to Go
        ("{{json .id}}x{{-", "unclosed action"),
    ],
)
def test_a_malformed_template_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    assert message in str(caught.value), (text, str(caught.value))


def test_a_dash_without_white_space_is_no_trim_marker() -> None:
    """Go's: ``{{-3}}`` is the number -3, and ``{{-.id}}`` neither a trim marker nor a path."""
    assert render("a {{-3}}") == "a -3"
    with pytest.raises(TemplateError):
        parse("a {{-.id}}")
    assert render("a\n {{- 3 -}} \nb") == "a3b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.id.name}}", 'key "name" of a string (.id)'),
        ("{{.processes.pid}}", 'key "pid" of a list (.processes): index it'),
        ("{{index .processes 2}}", "index 2 of a list of 2"),
        ("{{index .processes -1}}", "index -1 of a list of 2"),
        ('{{index .processes "pid"}}', 'index "pid" of a list'),
        ("{{index .labels 0}}", "index 0 of an object"),
        ('{{index .id "x"}}', "index of a string"),
        ("{{(index .processes 5).pid}}", "index 5 of a list of 2"),
    ],
)
def test_a_template_that_does_not_fit_the_value_fails_for_that_value(
    text: str, message: str
) -> None:
    """Known only once the container is there: an error of that container, not of usage."""
    template = parse(text)
    with pytest.raises(RenderError) as caught:
        template.render(WEB)
    assert message in str(caught.value), (text, str(caught.value))
    assert text in str(caught.value)  # the action it was in


def test_top_keys_are_the_top_level_keys_a_template_names() -> None:
    """What ps --format checks against its fields before any request: the first key of each
    path from the dot, wherever it is (an argument, a pipeline, parentheses), in order."""
    template = parse("{{.id}} {{json .state.status}} {{(index .processes 0).pid | json}} {{.}}")
    assert template.top_keys() == ("id", "state", "processes")
    assert parse('{{index . "id"}} {{"x"}} text').top_keys() == ()


def test_split_cuts_the_text_between_actions_not_the_actions() -> None:
    """ps's ``table`` columns: cut at the template's own tabs, not at a tab in a string of an
    action, nor at one a trim marker took away."""
    columns = parse('{{.id}}\t{{index .labels "a\tb"}} x\t{{.state.status}}').split("\t")
    assert [column.render(WEB) for column in columns] == ["web", "<no value> x", "stopped"]
    assert len(parse("{{.id -}}\t{{.id}}").split("\t")) == 1
    assert [c.render(WEB) for c in parse("\ta\t").split("\t")] == ["", "a", ""]
