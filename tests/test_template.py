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


#: WEB and values of each kind that is false, for if, with and range.
MORE: dict[str, Any] = {
    **WEB,
    "tags": [],
    "limits": {},
    "zero": 0,
    "off": False,
    "empty": "",
    "half": 0.5,
    "matrix": [[1, 2], [3]],
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
        # Go's numbers: prefixes, octal, underscores, a hex float, a point with no digit after;
        # characters are their codes.
        (
            "{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{0x1p-2}} {{5.}} {{-0x10}}",
            "31 15 15 5 1000 0.25 5 -16",
        ),
        (
            "{{'a'}} {{'\\n'}} {{'\\x41'}} {{'\\u00e9'}} {{'\u00e9'}} {{'\\''}} {{'\\377'}}"
            " {{printf \"%c%T\" 'x' 'x'}} {{eq 'a' 97}}",
            "97 10 65 233 233 39 255 xint true",
        ),
        ('{{"\\110\\151"}} {{printf "%T %T" 0x10 0x1p0}}', "Hi int float64"),
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


def test_json_writes_floats_and_escapes_as_go_s_encoding_json() -> None:
    """docker's json is Go's encoder: floats fixed from 1e-6 to 1e21, else 1e-7 (not Python's
    1e-07, 1e+16, 1e-05); \\b and \\f as \\u0008 and \\u000c; U+2028 and U+2029 escaped."""
    assert (
        render(
            "{{json 1e-7}} {{json 1e20}} {{json 0.00001}} {{json 1e16}} {{json -0.0}} {{json 1e21}}"
        )
        == "1e-7 100000000000000000000 0.00001 10000000000000000 -0 1e+21"
    )
    assert (
        render('{{json "\\u2028\\x01\\b\\f\\n\\\\b"}}') == '"\\u2028\\u0001\\u0008\\u000c\\n\\\\b"'
    )
    assert (
        render("{{json .}}", {"ratio": 2.5e-7, "a": [1e16]})
        == '{"ratio":2.5e-7,"a":[10000000000000000]}'
    )


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
        ("{{nosuch .id}}", 'function "nosuch" not defined'),
        ("{{sprintf .id}}", 'function "sprintf" not defined (the functions: and, or, not,'),
        ("{{state.status}}", "{{.state.status}}"),  # the path without its dot: what was meant
        ("{{id}}", "a key starts with a dot: {{.id}}"),
        ("{{}}", "an empty action"),
        ("{{ }}", "an empty action"),
        ("{{.id | | json}}", "an empty command after |"),  # a | at the end is Go's nothing
        ("{{.id .state}}", "is not a function"),
        ("{{.id | .state}}", "is not a function"),
        ("{{json}}", "wrong number of args for json: want 1 got 0"),
        ("{{json .id .state}}", "wrong number of args for json: want 1 got 2"),
        ("{{.id | json .state}}", "wrong number of args for json: want 1 got 2"),
        ("{{index}}", "wrong number of args for index: want at least 1 got 0"),
        ("{{(json .id}}", "unclosed ("),
        ("{{json .id)}}", 'unexpected ")"'),
        ("{{.a-b}}", "index"),  # a key that is not a word: the way to it is index
        ('{{"unterminated}}', "unterminated string"),
        ('{{"bad \\q"}}', "unknown escape \\q"),
        (r'{{"\x4"}}', "\\x takes 2 hex digits"),
        ("{{..id}}", "unexpected"),
        ("{{\u00b2}}", 'unexpected "\u00b2"'),  # a digit to str.isdigit, no number to Go
        ("{{json .id}}x{{-", "unclosed action"),
        # Go's control actions, variables, comments, and the functions' arguments.
        ("{{if .id}}x", "unexpected EOF: {{if .id}} has no {{end}}"),
        ("{{range .processes}}{{if .pid}}{{end}}", "unexpected EOF: {{range .processes}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("x{{else}}y", "unexpected {{else}}"),
        ("{{if .id}}a{{else}}b{{else}}c{{end}}", "expected {{end}}; found a second {{else}}"),
        ("{{range .x}}a{{else if .y}}b{{end}}", 'unexpected "if"'),  # no else if in a range
        ("{{if .id}}a{{else}}b{{end x}}", 'unexpected "x"'),
        ("{{if}}{{end}}", "missing value for if"),
        ("{{range}}{{end}}", "missing value for range"),
        ("{{with $x :=}}{{end}}", "missing value for with"),
        ("{{$x}}", 'undefined variable "$x"'),
        ("{{$x = 1}}", 'undefined variable "$x"'),
        ("{{if .id}}{{$x := 1}}{{end}}{{$x}}", 'undefined variable "$x"'),  # its scope ended
        ("{{range $i, $e := .x}}{{end}}{{$e}}", 'undefined variable "$e"'),
        ("{{range $a, $b, $c := .x}}{{end}}", "too many declarations in range"),
        ("{{$a, $b := .x}}", "too many declarations in command"),
        ("{{break}}", "{{break}} outside {{range}}"),
        ("{{if .id}}{{continue}}{{end}}", "{{continue}} outside {{range}}"),
        ("{{range .x}}{{break 1}}{{end}}", 'unexpected "1"'),
        # define, template and block: Go's grammar and words.
        ('{{define "a"}}x{{end}}{{define "a"}}y{{end}}', 'multiple definition of template "a"'),
        ('{{block "b" .}}[{{.}}]{{end}}{{define "b"}}<{{.}}>{{end}}', "multiple definition"),
        ('{{define ""}}main{{end}}x', 'multiple definition of template ""'),
        ('{{define "a"}}{{if .}}{{end}}{{end}}{{define "a"}}y{{end}}', "multiple definition"),
        ('{{if true}}{{define "a"}}x{{end}}{{end}}', "unexpected <define> in command"),
        ('{{define "a"}}{{define "b"}}{{end}}{{end}}', "unexpected <define> in command"),
        ('{{.id | template "a"}}', "template begins an action of its own"),
        ('{{define "a"}}{{break}}{{end}}', "{{break}} outside {{range}}"),
        ('{{range .x}}{{block "b" .}}{{continue}}{{end}}{{end}}', "{{continue}} outside {{range}}"),
        ('{{define "a" .}}x{{end}}', 'unexpected "." in define clause'),
        ("{{define .id}}x{{end}}", 'unexpected ".id" in define clause'),
        ("{{define}}{{end}}", 'unexpected "}}" in define clause'),
        ('{{define "a"}}x', 'unexpected EOF: {{define "a"}} has no {{end}}'),
        ('{{define "a"}}A{{else}}B{{end}}', "unexpected {{else}} in define clause"),
        ('{{define "a"}}{{end x}}', 'unexpected "x"'),
        ('{{$x := 1}}{{define "a"}}{{$x}}{{end}}', 'undefined variable "$x"'),
        ("{{template .id}}", 'unexpected ".id" in template clause'),
        ("{{template}}", 'unexpected "}}" in template clause'),
        ('{{template "a" | json}}', 'unexpected "|" in template clause'),
        ('{{template "a" $x}}', 'undefined variable "$x"'),
        ('{{block "b"}}x{{end}}', "missing value for block clause"),
        ('{{block "b" .}}x', 'unexpected EOF: {{block "b" .}} has no {{end}}'),
        ('{{block "b" .}}x{{else}}y{{end}}', "unexpected {{else}} in block clause"),
        ("{{len}}", "wrong number of args for len: want 1 got 0"),
        ("{{len .a .b}}", "wrong number of args for len: want 1 got 2"),
        ("{{printf}}", "wrong number of args for printf: want at least 1 got 0"),
        ("{{.id | not .x}}", "wrong number of args for not: want 1 got 2"),
        ("{{nil}}", "nil is not a command"),
        ("{{.id | if}}", "if begins an action of its own"),
        ("{{/* unclosed }}", "unclosed comment"),
        ("{{/* c */ .id}}", "comment ends before closing delimiter"),
        ("{{ /* c */ }}", "a comment starts right after {{"),
        ("{{$x := := 1}}", 'unexpected ":="'),
        ("{{$x := 1}}{{$x= 2}}", "bad character U+003D '='"),
        # Go's: operands one after another with white space between them.
        ('{{len"s"}}', 'unexpected "\\"s\\"" in operand'),
        ('{{printf "%d"-1}}', 'unexpected "-1" in operand'),
        ("{{and.5 1}}", 'unexpected ".5" in operand'),
        ("{{or'c'true}}", "unexpected \"'c'\" in operand"),
        ('{{print (len "ab")(len "c")}}', 'unexpected "(" in operand'),
        ("{{print $.id$.id}}", 'unexpected "$" in operand'),
        ("{{print len}}", "wrong number of args for len: want 1 got 0"),  # a call, with none
        ("{{'ab'}}", "malformed character constant: 'ab'"),
        ("{{''}}", "malformed character constant: ''"),
        ("{{'a}}", "unterminated character constant"),
        ("{{'\\400'}}", "\\400 is no character"),
        ('{{"\\uD800"}}', "\\uD800 is no character"),  # a surrogate: Go's invalid syntax
        ("{{1e400}}", 'illegal number syntax: "1e400"'),
        ("{{1__0}} {{0x}}", 'illegal number syntax: "1__0"'),
        ("{{99999999999999999999}}", 'integer overflow: "99999999999999999999"'),
        ("{{08}}", 'integer overflow: "08"'),  # Go's: no octal, and no float as written
        ("{{0b12}}", 'bad number syntax: "0b12"'),
        ("{{1a}}", 'bad number syntax: "1a"'),
        ("{{slice}}", "wrong number of args for slice: want at least 1 got 0"),
        ("{{call}}", "wrong number of args for call: want at least 1 got 0"),
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
        ('{{index .id "x"}}', 'index "x" of a string'),
        ("{{(index .processes 5).pid}}", "index 5 of a list of 2"),
        # Go's functions and control actions.
        ("{{len 3}}", "{{len 3}}: error calling len: len of type int"),
        ("{{len .nosuch}}", "error calling len: len of nil pointer"),
        ("{{lt .id 3}}", "error calling lt: incompatible types for comparison: string and int"),
        ("{{eq .zero .half}}", "incompatible types for comparison: int and float64"),
        ('{{ne 1 "a"}}', "error calling ne: incompatible types for comparison"),
        ("{{eq .id}}", "error calling eq: missing argument for comparison"),  # Go's, when run
        ("{{lt true 1}}", "error calling lt: incompatible types for comparison"),
        ('{{pad "x" -1 2}}', "error calling pad: strings: negative Repeat count"),
        ('{{pad "" 1 .id}}', "wrong type for value of pad; expected int; got string"),
        ('{{truncate "hello" 2.5}}', "wrong type for value of truncate; expected int; got float64"),
        ('{{2.0 | truncate "hello"}}', "expected int; got float64"),  # piped: a float64 already
        (
            '{{truncate "hello" -1}}',
            "error calling truncate: runtime error: slice bounds out of range [:-1]",
        ),
        ('{{index "abc" 3}}', "index 3 of a string of 3 bytes"),
        ('{{index "abc" "x"}}', 'index "x" of a string: its positions are whole numbers'),
        ("{{lt true false}}", "error calling lt: invalid type for comparison"),
        ("{{gt .nosuch 1}}", "error calling gt: invalid type for comparison"),
        ("{{eq .labels .labels}}", "non-comparable type map[string]interface {}"),
        ("{{range .id}}{{end}}", "{{range .id}}: range can't iterate over web"),
        ("{{range $i, $e := 3}}{{end}}", "can't use 3 to iterate over more than one variable"),
        ("{{upper 3}}", "wrong type for value of upper; expected string; got int"),
        ("{{upper .nosuch}}", "invalid value for upper; expected string"),
        ('{{join .labels ","}}', "expected []string; got map[string]interface {}"),
        ("{{printf 3}}", "wrong type for value of printf; expected string; got int"),
        ("{{truncate .id .id}}", "expected int; got string"),
        ("{{index .processes 1.0}}", "index 1.0 of a list: its positions are whole numbers"),
        ('{{slice "abcdef" 3 1}}', "error calling slice: invalid slice index: 3 > 1"),
        ('{{slice "abcdef" 1 10}}', "error calling slice: index out of range: 10"),
        ('{{slice "abcdef" -1}}', "error calling slice: index out of range: -1"),
        ('{{slice "abc" 0 1 2}}', "error calling slice: cannot 3-index slice a string"),
        ("{{slice .processes 0 1 2 3}}", "error calling slice: too many slice indexes: 4"),
        ("{{slice .processes 0 2 1}}", "error calling slice: invalid slice index: 2 > 1"),
        ("{{slice .processes 3}}", "error calling slice: index out of range: 3"),
        ("{{slice .labels 1}}", "can't slice item of type map[string]interface {}"),
        ("{{slice 3 1}}", "error calling slice: can't slice item of type int"),
        ("{{slice .nosuch 1}}", "error calling slice: slice of untyped nil"),
        ('{{slice "abc" "1"}}', "error calling slice: cannot index slice/array with type string"),
        ('{{slice "abc" 1.0}}', "error calling slice: cannot index slice/array with type float64"),
        ('{{slice "abc" .nosuch}}', "error calling slice: cannot index slice/array with nil"),
        ('{{template "nosuch"}}', 'template "nosuch" not defined'),
        ('{{define "a"}}{{template "b"}}{{end}}{{template "a"}}', 'template "b" not defined'),
        ('{{define "a"}}{{.id.x}}{{end}}{{template "a" .}}', 'key "x" of a string (.id)'),
        (
            '{{define "inf"}}{{template "inf"}}{{end}}{{template "inf"}}',
            "exceeded maximum template depth (100)",
        ),
        # call: our values hold no function; Go's words for what they hold.
        ("{{call .id}}", "error calling call: non-function of type string"),
        ("{{call .processes 1}}", "error calling call: non-function of type []interface {}"),
        ("{{.labels | call}}", "non-function of type map[string]interface {}"),
        ("{{call .nosuch}}", "error calling call: call of nil"),
        ("{{call nil}}", "error calling call: call of nil"),
        # The action it is in, inside a control action.
        ("{{if .id}}{{.id.name}}{{end}}", '{{.id.name}}: key "name" of a string (.id)'),
        (
            "{{range .processes}}{{index .args 1}} {{end}}",
            "{{index .args 1}}: index 1 of a list of 1",
        ),
        # A piped value is the command before's, run before and/or looks at its own
        # arguments, as Go's: their short circuit skips those written only (Go 1.19:
        # "error calling index: index out of range: 5" for the first). Until 2026-12 these
        # printed "none" and web.
        ('{{(index .processes 5).pid | or "none"}}', "index 5 of a list of 2"),
        ("{{.id.name | and false}}", 'key "name" of a string (.id)'),
        ("{{.id.name | or .id}}", 'key "name" of a string (.id)'),
    ],
)
def test_a_template_that_does_not_fit_the_value_fails_for_that_value(
    text: str, message: str
) -> None:
    """Known only once the container is there: an error of that container, not of usage."""
    template = parse(text)
    with pytest.raises(RenderError) as caught:
        template.render(MORE)
    assert message in str(caught.value), (text, str(caught.value))
    assert str(caught.value).split(": ")[0] in text  # the action it was in


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


# --- Go's control actions, variables and functions ----------------------------------------------
# Each expectation is what Go's text/template prints for the template on the same value (JSON's
# whole numbers as Go's int, the others float64, as docker's typed structs hold them), from Go's
# documented semantics (text/template, fmt), but for objects and lists, printed as JSON.


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        # if: Go's truth, else if, else; and trim markers inside them.
        ("{{if .labels}}yes{{else}}no{{end}}", "yes"),
        *[
            (f"{{{{if .{key}}}}}yes{{{{else}}}}no{{{{end}}}}", "no")
            for key in ("nosuch", "nothing", "tags", "limits", "zero", "off", "empty")
        ],
        ('{{if "0"}}y{{end}}{{if 0.0}}n{{end}}{{if .half}}h{{end}}', "yh"),
        ("{{if .zero}}a{{else if .off}}b{{else if .id}}c{{else}}d{{end}}", "c"),
        ("{{if .zero}}a{{else if .off}}b{{end}}", ""),
        ("a {{- if .id -}} \n b \n {{- end -}} \n c", "abc"),
        ("{{- if .id}}\n  {{.id}}\n{{- end}}", "\n  web"),
        # with: the dot is the value; else for a false one; else with (Go 1.23).
        ("{{with .state}}{{.status}}/{{.exitStatus}}{{end}}", "stopped/3"),
        ("{{with .nosuch}}x{{else}}none: {{.id}}{{end}}", "none: web"),
        ("{{with .zero}}z{{else with .state}}{{.status}}{{end}}", "stopped"),
        ("{{with $s := .state.status}}{{$s}}={{.}}{{end}}", "stopped=stopped"),
        ("{{with .state}}{{$.id}}: {{.status}}{{end}}", "web: stopped"),  # $: the whole value
        # range: lists, objects (keys sorted, as Go's maps), whole numbers (Go 1.22), else.
        ("{{range .processes}}{{.pid}} {{end}}", "4242 4343 "),
        ("{{range $i, $e := .processes}}{{$i}}:{{$e.pid}} {{end}}", "0:4242 1:4343 "),
        ("{{range $e := .processes}}{{$e.pid}},{{end}}", "4242,4343,"),  # one: the element
        (
            "{{range $k, $v := .labels}}{{$k}}={{$v}};{{end}}",
            "0=zero;a-b=dashed;team=infra;uni=caf\u00e9 <&>;",
        ),
        ("{{range .labels}}{{.}},{{end}}", "zero,dashed,infra,caf\u00e9 <&>,"),
        (
            "{{range .tags}}x{{else}}empty{{end}} {{range .nosuch}}x{{else}}none{{end}}",
            "empty none",
        ),
        ("{{range .limits}}x{{else}}no limits{{end}}", "no limits"),
        ("{{range .processes}}{{range .args}}[{{.}}]{{end}};{{end}}", "[sleep][100];[sh];"),
        ("{{range .matrix}}({{range .}}{{.}}{{end}}){{end}}", "(12)(3)"),
        ("{{range .processes}}{{$.id}}:{{.pid}} {{end}}", "web:4242 web:4343 "),
        (
            "{{range 3}}{{.}}{{end}} {{range $i := 2}}{{$i}}{{end}} {{range 0}}{{else}}none{{end}}",
            "012 01 none",
        ),
        ("{{range .processes -}}\n  {{.pid}}\n{{- end}}", "42424343"),
        ("{{range .processes}}\n  {{- .pid}}\n{{end}}", "4242\n4343\n"),
        # break and continue (Go 1.18), in an if in the range.
        ("{{range .processes}}{{if eq .pid 4343}}{{break}}{{end}}{{.pid}}{{end}}", "4242"),
        ("{{range .processes}}{{if eq .pid 4242}}{{continue}}{{end}}{{.pid}}{{end}}", "4343"),
        ("{{range .matrix}}{{range .}}{{break}}{{end}}x{{end}}", "xx"),  # the inner one only
        # Go's (its walkRange recovers a break in its else too): a break in a range's else
        # ends that range action, not the one around it; a continue goes on to that one's.
        (
            "{{range .processes}}{{range .nosuch}}{{else}}{{break}}{{end}}{{.pid}}{{end}}",
            "42424343",
        ),
        (
            "{{range .processes}}{{range .tags}}{{else}}x{{break}}y{{end}}{{.pid}};{{end}}",
            "x4242;x4343;",
        ),
        ("{{range .processes}}{{range .nosuch}}{{else}}{{continue}}{{end}}{{.pid}}{{end}}", ""),
        # Variables: declared (prints nothing), set with = (Go 1.11) across rounds, scoped.
        ("{{$x := .id}}{{$x}}-{{$x}}", "web-web"),
        ("{{$n := 0}}{{range .processes}}{{$n = .pid}}{{end}}{{$n}}", "4343"),
        ("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "21"),
        ("{{$x:= 2}}{{$x}} {{$ := 1}}{{$}}", "2 1"),  # Go's: $ too may be declared again
        ("{{$p := index .processes 1}}{{$p.user.uid}} {{$p.args}}", '1000 ["sh"]'),
        ("{{if $s := .state.status}}{{$s}}{{end}}", "stopped"),
        ("{{$}}", render("{{json .}}", MORE)),
        ("a{{/* a comment */}}b {{- /* and\nanother */ -}} c", "abc"),
        # Functions: len (a string's bytes, as Go's), comparisons, and/or (the deciding
        # value, short-circuit), not.
        (
            '{{len .processes}} {{len .labels}} {{len .id}} {{len "caf\u00e9"}} {{.labels | len}}',
            "2 4 3 5 4",
        ),
        (
            '{{eq .state.status "stopped"}} {{eq .state.status "running" "paused" "stopped"}}',
            "true true",
        ),
        (
            '{{eq .state.exitStatus 3}} {{ne .id "web"}} {{eq .half 0.5}} {{eq true .autoRemove}}',
            "true false true true",
        ),
        ('{{eq .nosuch "x"}} {{eq .nosuch .nothing}} {{ne .nosuch 1}}', "false true true"),
        (
            '{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}} {{lt 0.5 .half}} {{gt -1 -2}}',
            "true true true false false true",
        ),
        (
            '{{and 1 "x"}} {{and 1 0 "x"}} {{or 0 "" "y"}} [{{or 0 ""}}] {{or .nosuch .id}}',
            "x 0 y [] web",
        ),
        ("{{or .id (index .processes 9)}} {{and .zero (index .processes 9)}}", "web 0"),
        ('{{not .labels}} {{not ""}} {{not .nosuch}}', "false true true"),
        ('{{if and (eq .state.status "stopped") (gt .state.exitStatus 0)}}failed{{end}}', "failed"),
        # print and println: Go's fmt.Sprint, a space between two operands neither a string.
        (
            '{{print "a" 1 2 "b" true}} {{print .nosuch}} {{print .state}}',
            'a1 2btrue <nil> {"status":"stopped","exitStatus":3}',
        ),
        ('{{println "a" 1}}', "a 1\n"),
        # printf: Go's verbs, flags, widths; a verb that does not fit, Go's %!verb(type=value).
        ('{{printf "%s=%d" .id .state.exitStatus}}', "web=3"),
        ('{{.id | printf "%s!"}}', "web!"),
        (
            '{{printf "%5d|%-5s|%05d|%-4d|%+d|% d" 42 "ab" 42 7 5 5}}',
            "   42|ab   |00042|7   |+5| 5",
        ),
        (
            '{{printf "%x %X %o %b %#x %#o %O %08b" 255 255 8 5 255 8 8 5}}',
            "ff FF 10 101 0xff 010 0o10 00000101",
        ),
        ('{{printf "%d %x %05d %.3d" -42 -255 -42 7}}', "-42 -ff -0042 007"),
        (
            '{{printf "%q %q %#q %+q" .id "a\\"b\\n" "raw" "caf\u00e9"}}',
            '"web" "a\\"b\\n" `raw` "caf\\u00e9"',
        ),
        (
            '{{printf "%v %v %v %v %t" .autoRemove .half .nosuch .id false}}',
            "true 0.5 <nil> web false",
        ),
        (
            '{{printf "%.2f %6.2f| %e %E %g %G" .half 3.14159 1234.5678 0.000125 1e6 1e-7}}',
            "0.50   3.14| 1.234568e+03 1.250000E-04 1e+06 1E-07",
        ),
        (
            '{{printf "%v %v %v %v %v" 1e21 123456.0 1234567.0 0.0001 0.00001}}',
            "1e+21 123456 1.234567e+06 0.0001 1e-05",
        ),
        ('{{printf "%x %x %X" 1.5 1.0 "hi"}}', "0x1.8p+00 0x1p+00 6869"),
        ('{{printf "%c %U %#U %q" 65 233 65 66}}', "A U+00E9 U+0041 'A' 'B'"),
        (
            '{{printf "%T %T %T %T %T %T" 1 .half "s" true .labels .processes}}',
            "int float64 string bool map[string]interface {} []interface {}",
        ),
        ('{{printf "%*d|%-*d|%.*f" 4 7 3 1 2 .half}}', "   7|1  |0.50"),
        (
            '{{printf "%.1s|%5.2s|%-6v|%6v|%#v" "abc" "abc" .id true .id}}',
            'a|   ab|web   |  true|"web"',
        ),
        ('{{printf "%v %s" .state .processes}}', render("{{json .state}} {{json .processes}}")),
        ('{{printf "100%%"}} {{printf "%d%%" 5}}', "100% 5%"),
        ('{{printf "%d" .id}}', "%!d(string=web)"),
        ('{{printf "%s %t %f" 3 "x" 2}}', "%!s(int=3) %!t(string=x) %!f(int=2)"),
        (
            '{{printf "%d" 1e3}} {{printf "%s" .nosuch}} {{printf "%d" .labels}}',
            "%!d(float64=1000) %!s(<nil>) %!d(map[string]interface {}="
            + render("{{json .labels}}")
            + ")",
        ),
        (
            '{{printf "%d %d" 1}}|{{printf "%d" 1 "x" .nosuch}}|{{printf "%z" 1}}|{{printf "a%"}}',
            "1 %!d(MISSING)|1%!(EXTRA string=x, <nil>)|%!z(int=1)|a%!(NOVERB)",
        ),
        # Go's fmt where it surprises, each found against go1.19's: %+v and %#v are no sign nor
        # prefix; a bad verb prints the value with the directive's width; 0 pads digits under
        # a prefix; # on floats keeps zeros; a precision cuts a %x string's bytes and %T.
        (
            '{{printf "%+v|%#v|%5s|%#05x|%.2x" 42 42 42 42 "\U0001f600"}}',
            "42|42|%!s(int=   42)|0x0002a|f09f",
        ),
        (
            '{{printf "%U|%+.0d|%#g|%#x|%.2x" -42 0 1e6 100.0 3.14159}}',
            "U+FFFFFFFFFFFFFFD6||1.00000e+06|0x1.9000p+06|0x1.92p+01",
        ),
        (
            '{{printf "%b|%.2T|%*d" 100.0 42 9007199254740993}}',
            "7036874417766400p-46|in|%!(BADWIDTH)%!d(MISSING)",
        ),
        # docker's functions (docker/cli templates.basicFunctions).
        ('{{upper .id}} {{lower "ABC"}} {{title "hello wide-world"}}', "WEB abc Hello Wide-World"),
        # Go's case mappings, one character for one: no SS for ß, no final sigma.
        ('{{upper "stra\u00dfe"}} {{lower "\u039f\u03a3"}}', "STRA\u00dfE \u03bf\u03c3"),
        (
            '{{join (index .processes 0).args ","}} {{split "a,b,c" ","}} {{len (split "a" ",")}}',
            'sleep,100 ["a","b","c"] 1',
        ),
        ('{{range split "a,b" ","}}<{{.}}>{{end}} {{split "ab" ""}}', '<a><b> ["a","b"]'),
        (
            '[{{pad .id 2 1}}] [{{pad "" 2 1}}] {{truncate .id 2}} {{truncate .id 10}}',
            "[  web ] [] we web",
        ),
        ('{{.id | upper | printf "%s!"}}', "WEB!"),
        # Go's: a | at an action's end (or a parenthesis') is nothing; -.5 is a number.
        ('{{.id |}} {{(.state.status | ) | printf "%s!" |}} {{-.5}}', "web stopped! -0.5"),
        # A function's name as an argument is a call with no argument, as Go's.
        ('{{print html "x" js}}|{{printf "%s%s" urlquery println}}', "x|\n"),
        # A float constant that is a whole number is an int where the function takes one.
        ('{{truncate "hello" 2.0}}|{{pad "x" 1e0 2.0}}|{{printf "%T" 2.0}}', "he| x  |float64"),
        # docker's title is Go's strings.Title: after any ASCII but a letter, a digit or _, and
        # after white space, a capital; index of a string is a byte; join of nothing is "".
        (
            '{{title "o\'neil is_here x1y 1st \u00e9mile a.b-c x\u00b2y a\u2014b"}}',
            "O'Neil Is_here X1y 1st \u00c9mile A.B-C X\u00b2y A\u2014b",
        ),
        ('{{index "abc" 1}} {{index .labels.team 0}} [{{join .nosuch ","}}]', "98 105 []"),
        # slice (Go 1.13): a string's bytes or a list's elements, from, to (and a list's cap).
        (
            '{{slice "abcdef" 1 3}}|{{slice "abcdef" 1}}|{{slice "abcdef"}}|{{slice "" 0}}',
            "bc|bcdef|abcdef|",
        ),
        ('{{slice "h\u00e9llo" 1 3}}', "\u00e9"),  # bytes: here a whole character
        (
            "{{len (slice .processes 1)}} {{(index (slice .processes 1 2 2) 0).pid}}"
            " {{len (slice .processes 2)}} {{len (slice .processes 0 0)}}",
            "1 4343 0 0",
        ),
        ('{{range slice (split "a,b,c" ",") 1}}<{{.}}>{{end}}', "<b><c>"),
        # html, js, urlquery: Go's escapers, of one string, or of fmt.Sprint of all their
        # arguments (a missing one as <no value>).
        ('{{html `<a href="x">&\'</a>`}}', "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;"),
        (
            '{{html 3 "<b>" .nosuch true}}|{{html}}|{{html .nosuch}}|{{html "a\x00b"}}',
            "3&lt;b&gt;&lt;no value&gt;true||&lt;no value&gt;|a\ufffdb",
        ),
        (
            '{{js "it\'s \\"q\\" <a>&=\\\\ \\n\\t\\u2028 \\x01 \u00e9 \U0001f600 \u00ad"}}',
            'it\\\'s \\"q\\" \\u003Ca\\u003E\\u0026\\u003D\\\\ \\u000A\\u0009\\u2028 \\u0001'
            " \u00e9 \U0001f600 \\u00AD",
        ),
        ('{{js 3 "<" .nosuch}}|{{js}}', "3\\u003C\\u003Cno value\\u003E|"),
        (
            '{{urlquery "a b&c=d/\u00e9?+~_.-"}}|{{urlquery 3 "x y" .nosuch}}'
            "|{{.id | html | urlquery}}",
            "a+b%26c%3Dd%2F%C3%A9%3F%2B~_.-|3x+y%3Cno+value%3E|web",
        ),
        # printf's explicit argument indexes: %[n]d, and *[n] for a width or a precision; no
        # EXTRA once reordered; a bad index is %!d(BADINDEX).
        (
            '{{printf "%[2]d %[1]s" "a" 2}}|{{printf "%[1]d %[1]x %[1]o" 64}}'
            '|{{printf "%[1]d %d" 1 2}}',
            "2 a|64 40 100|1 2",
        ),
        (
            '{{printf "%[3]*.[2]*[1]f" 12.0 2 6}}|{{printf "%[1]*[2]d" 4 7}}'
            '|{{printf "%6.2[1]f" 3.14159}}',
            " 12.00|   7|  3.14",
        ),
        (
            '{{printf "%[2]d %d" 1 2}}|{{printf "%[1]d" 1 2}}|{{printf "%d %[1]d %d" 1 2}}',
            "2 %!d(MISSING)|1|1 1 2",
        ),
        (
            '{{printf "%[3]d" 1 2}}|{{printf "%[0]d" 1}}|{{printf "%[x]d" 1}}|{{printf "%[1d" 1}}',
            "%!d(BADINDEX)|%!d(BADINDEX)|%!d(BADINDEX)|%!d(BADINDEX)",
        ),
        (
            '{{printf "%[1]2d" 5}}|{{printf "%-[1]5d" 5}}|{{printf "%[1]" 5}}|{{printf "%[9]%" 1}}',
            "%!d(BADINDEX)|%!d(BADINDEX)|%!(NOVERB)|%",
        ),
        (
            '{{printf "%[1]*d" 5}}|{{printf "%[2]*[1]d" 4 "x"}}|{{printf "%*[2]d" 3 4}}'
            '|{{printf "%[01]d" 1}}',
            "%!d(MISSING)|%!(BADWIDTH)4|  4|1",
        ),
        ('{{printf "%." 1}}|{{printf "%5." 1}}', "%!.(int=1)|%!.(int=    1)"),
        # define, template, block: templates by name, the dot (and $) what is passed, nil
        # for nothing; their variables their own; defined before or after their use.
        ('{{define "a"}}A{{.}}{{end}}{{template "a" .id}}|{{template "a"}}', "Aweb|A<no value>"),
        (
            '{{define "a"}}[{{$}} {{printf "%v" .}}]{{end}}{{template "a" 3}}{{template "a"}}',
            "[3 3][<no value> <nil>]",
        ),
        ('{{template "a" .}}{{define "a"}}[{{.id}}]{{end}}', "[web]"),
        ('{{define "a"}}A{{end}}text {{template "a"}} more', "text A more"),
        ('{{define "a"}}A{{end}}\n{{define "b"}}B{{end}}\n{{template "a"}}', "\n\nA"),
        ('{{define "a" -}}  A  {{- end}}[{{template "a"}}]', "[A]"),
        ('{{define "a"}}A{{end}}', ""),
        ('{{if false}}{{template "nosuch"}}{{end}}ok', "ok"),
        ("{{define `a b`}}x{{end}}{{template `a b`}}", "x"),
        (
            '{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}B{{.id}}{{end}}'
            '{{template "a" .}}',
            "Bweb",
        ),
        ('{{with .state}}{{template "s" .}}{{end}}{{define "s"}}{{.status}}{{end}}', "stopped"),
        (
            '{{$x := 5}}{{define "a"}}{{$x := 1}}{{$x}}{{end}}'
            '{{template "a"}}{{template "a"}}{{$x}}',
            "115",
        ),
        ('{{define "a"}}{{.}}{{end}}{{template "a" $y := 3}}{{$y}}', "33"),
        ('{{define "a"}}{{.}}{{end}}{{template "a" .id | upper}}', "WEB"),
        ('{{define "a"}}{{.}}{{end}}{{template "a" .nosuch}}', "<no value>"),
        (
            '{{define "r"}}{{if .}}{{len .}}{{template "r" (slice . 1)}}{{end}}{{end}}'
            '{{template "r" "abcd"}}',
            "4321",
        ),
        (
            '{{define "a"}}{{range .}}{{.pid}}{{break}}{{end}}{{end}}{{template "a" .processes}}',
            "4242",
        ),
        # An empty definition (white space only) gives way to another, either way round.
        ('{{define "a"}}  {{end}}{{define "a"}}y{{end}}{{template "a"}}', "y"),
        ('{{define "a"}}x{{end}}{{define "a"}}{{end}}{{template "a"}}', "x"),
        ('{{define ""}}main{{end}}', "main"),  # the template itself is "", as docker names it
        # block: define and template at once.
        ('{{block "b" .state}}[{{.status}}]{{end}}', "[stopped]"),
        ('{{range .processes}}{{block "p" .}}{{.pid}};{{end}}{{end}}', "4242;4343;"),
        ('{{block "a" .}}{{end}}{{define "a"}}y{{end}}', "y"),
        ('{{define "a"}}y{{end}}{{block "a" .}} {{end}}', "y"),
    ],
)
def test_go_s_control_actions_variables_and_functions(text: str, printed: str) -> None:
    assert render(text, MORE) == printed


def test_top_keys_see_through_control_actions_but_not_into_a_changed_dot() -> None:
    """In an if's body the dot is the template's value; in a with's or a range's, their value:
    ``.pid`` in ``{{range .processes}}`` is no top-level key, ``$.id`` is."""
    template = parse(
        "{{if .a}}{{.b}}{{else}}{{.c}}{{end}}{{range .d}}{{.pid}}{{$.e}}{{else}}{{.f}}{{end}}"
        "{{with .g}}{{.h}}{{end}}{{$x := .i}}{{$x.j}}"
    )
    assert template.top_keys() == ("a", "b", "c", "d", "e", "f", "g", "i")


def test_top_keys_follow_the_template_s_value_into_a_template_it_calls() -> None:
    """``{{template "a" .}}`` (or ``$``) passes the template's value: the keys ``a`` names are
    top-level keys, once however often it is called (itself too); ``{{template "x" .d}}``
    passes another, whose keys (``$``'s too) are not."""
    template = parse(
        '{{define "a"}}{{.b}}{{$.c}}{{template "a" .}}{{end}}{{template "a" .}}{{template "a" $}}'
        '{{define "x"}}{{.y}}{{$.z}}{{end}}{{template "x" .d}}{{block "w" .}}{{.v}}{{end}}'
        '{{template "nosuch" .e}}{{range .f}}{{template "a" .}}{{template "a" $}}{{end}}'
    )
    assert template.top_keys() == ("b", "c", "d", "v", "e", "f")


def test_split_keeps_a_control_action_in_its_column() -> None:
    columns = parse("{{.id}}\t{{range .processes}}{{.pid}}\t{{end}}|\t{{.state.status}}")
    assert [c.render(WEB) for c in columns.split("\t")] == ["web", "4242\t4343\t|", "stopped"]


def test_ps_s_format_checks_the_fields_a_defined_template_names() -> None:
    """ps --format refuses an unknown field before any request: in a template it calls with
    the container too; a table's header and columns take the definitions with them."""
    from containerd_trio.client.output import RowTemplate

    with pytest.raises(ValueError, match=r"unknown field \{\{\.Nope\}\}"):
        RowTemplate('{{define "row"}}{{.ID}} {{.Nope}}{{end}}{{template "row" .}}')
    row = RowTemplate('table {{define "id"}}<{{.}}>{{end}}{{template "id" .ID}}\t{{.State}}')
    assert row.header == ["<ID>", "STATE"]


def test_a_table_s_header_is_the_column_s_field_whatever_the_functions_on_it() -> None:
    """docker renders a table's header with its HeaderFunctions: json, split, join, title,
    lower, upper and truncate give back their first argument, so a field piped or passed to
    them is headed as the bare field (``{{.ID | json}}`` was headed ``"ID"``, ``{{lower
    .ID}}`` ``id``, ``{{split .Labels ","}}`` ``["LABELS"]``); pad pads the header too, to
    keep it over its column; another function runs on the names, as docker's does."""
    from containerd_trio.client.output import RowTemplate

    columns = [
        ("{{.ID | json}}", "ID"),
        ("{{json .Status}}", "STATUS"),
        ("{{lower .ID}}", "ID"),
        ("{{.State | title}}", "STATE"),
        ("{{upper .Bundle}}", "BUNDLE"),
        ('{{split .Labels ","}}', "LABELS"),
        ('{{join (split .Labels ",") ";"}}', "LABELS"),
        ("{{truncate .CreatedAt 10}}", "CREATED AT"),
        ("{{.ExitStatus | json | lower}}", "EXIT STATUS"),
        ("{{pad .PID 1 2}}", " PID  "),
        ('{{printf "%s/%s" .ID .State}}', "ID/STATE"),
        ('{{"constant"}}', "constant"),
        # A range over split's list: over the name there, which fits no range (docker's header
        # stops there): the header it makes as on values.
        ('{{range split .Labels ","}}<{{.}}>{{end}}', "<LABELS>"),
        ("{{.ID}}", "ID"),
    ]
    row = RowTemplate("table " + "\t".join(form for form, _ in columns))
    assert row.header == [header for _, header in columns]
    # The columns themselves keep the functions.
    cells = row.cells(
        {
            "id": "web",
            "state": {"status": "running"},
            "processes": [{"pid": 4242}],
            "createdAt": "2026-12-03T01:25:22.000000000+00:00",
            "bundlePath": "/containers/web",
            "labels": {"a": "1", "b": "2"},
        }
    )
    assert cells[:5] == ['"web"', '"running"', "web", "Running", "/CONTAINERS/WEB"]
    assert cells[5:10] == ['["a=1","b=2"]', "a=1;b=2", "2026-12-03", '""', " 4242  "]
    assert cells[10:] == ["web/running", "constant", "<a=1><b=2>", "web"]


def test_ps_s_format_calls_docker_s_label_method() -> None:
    """docker's ps takes ``{{.Label "KEY"}}``, a method of its ContainerContext: the label's
    value, "" where there is none, headed by the key's last dotted part with ``-`` and ``_`` as
    spaces (docker/cli's SubHeaderContext.Label). It was a usage error, ``a value is not a
    function``. A key of the fields still takes no argument, and the method's arguments are
    Go's: one string."""
    from containerd_trio.client.output import PS_HEADINGS, PS_METHODS, RowTemplate

    def ps(text: str) -> RowTemplate:
        return RowTemplate(text, headings=PS_HEADINGS, methods=PS_METHODS)

    container = {
        "id": "web",
        "state": {"status": "running"},
        "processes": [{"pid": 4242}],
        "createdAt": "2026-12-03T01:25:22.000000000+00:00",
        "bundlePath": "/containers/web",
        "labels": {"team": "infra", "com.example.my-tier_x": "front"},
    }
    row = ps(
        'table {{.ID}}\t{{.Label "team"}}\t{{.Label "com.example.my-tier_x"}}'
        '\t{{.Label "nope"}}\t{{"team" | .Label | upper}}\t{{$.Label "team"}}'
    )
    assert row.header == ["ID", "team", "my tier x", "nope", "team", "team"]
    assert row.cells(container) == ["web", "infra", "front", "", "INFRA", "infra"]
    # In a template it calls with the container, too; on another value (a with's dot), Go's.
    called = ps('{{define "t"}}{{.Label "team"}}{{end}}{{template "t" .}}')
    assert called.cells(container) == ["infra"]
    with pytest.raises(ValueError, match="can't evaluate field Label in type string"):
        ps('{{with .ID}}{{.Label "team"}}{{end}}')
    with pytest.raises(ValueError, match="wrong number of args for Label: want 1 got 0"):
        ps("{{.Label}}")
    with pytest.raises(ValueError, match="wrong number of args for Label: want 1 got 2"):
        ps('{{.Label "a" "b"}}')
    with pytest.raises(ValueError, match="expected string; got int"):
        ps("{{.Label 3}}")
    with pytest.raises(ValueError, match="a value is not a function"):
        ps('{{.ID "x"}}')
    # inspect's templates, on documents, have no method: its arguments are refused as before.
    with pytest.raises(TemplateError, match="a value is not a function"):
        parse('{{.Label "team"}}')
