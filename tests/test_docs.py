"""The docs stay true to the code: their links resolve, and docs/api.md names every route.

- Every relative link in README.md and docs/*.md points to a file or directory of the repo, and
  its ``#anchor``, if any, to a heading of that file (GitHub's way of naming headings).
- Every route that docs/api.md documents (a heading with ``METHOD /path`` in code) is one of the
  OpenAPI document's, and every route of the document is documented there; each route's section
  names each of its query parameters; its table of errors has a row for each status of
  ``containerd_trio/errors.py``.
- Every module of ``containerd_trio/`` of some size is named in docs/design.md (or its package
  is), so that a reader finds the room for a change from there.
"""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from containerd_trio import errors
from containerd_trio.api import openapi
from containerd_trio.logfile import LineSource

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
API_DOC = ROOT / "docs" / "api.md"
DESIGN_DOC = ROOT / "docs" / "design.md"
PACKAGE = ROOT / "containerd_trio"
#: A module this long or longer is one a reader may look for (a package's ``__init__`` and
#: ``__main__`` are found with the package).
FINDABLE_LINES = 50

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
_ROUTE = re.compile(r"`(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`?\s]*)[^`]*`")


def prose(text: str) -> str:
    """The text without code blocks and code spans (a bracket in code is no link)."""
    return _CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for _, heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return found


def links(path: Path) -> list[str]:
    text = prose(path.read_text())
    return _LINK.findall(text) + _REFERENCE.findall(text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        file = (doc.parent / where).resolve() if where else doc
        if not file.exists() or not file.is_relative_to(ROOT):
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{doc.relative_to(ROOT)}: {broken}"


def test_the_link_check_finds_what_is_broken(tmp_path: Path) -> None:
    """The check itself: a link to a missing file, or to a missing heading, is found."""
    (tmp_path / "other.md").write_text("# A title, with punctuation!\n## Twice\n## Twice\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](other.md#a-title-with-punctuation) [second](other.md#twice-1) [web](https://x)\n"
        "[gone](missing.md) [bad](other.md#nope) `[code](missing.md)`\n"
        "```\n[fenced](missing.md)\n```\n[ref]: other.md#twice\n"
    )
    assert links(doc) == [
        "other.md#a-title-with-punctuation",
        "other.md#twice-1",
        "https://x",
        "missing.md",
        "other.md#nope",
        "other.md#twice",
    ]
    assert anchors(tmp_path / "other.md") == {"a-title-with-punctuation", "twice", "twice-1"}


def documented_sections() -> dict[tuple[str, str], str]:
    """(method, path) -> the text of the docs/api.md section whose heading names it."""
    text = _FENCE.sub("", API_DOC.read_text())
    headings = list(_HEADING.finditer(text))
    sections: dict[tuple[str, str], str] = {}
    for n, heading in enumerate(headings):
        end = headings[n + 1].start() if n + 1 < len(headings) else len(text)
        for method, path in _ROUTE.findall(heading.group(2)):
            assert (method, path) not in sections, f"{method} {path} has two sections"
            sections[(method, path)] = text[heading.start() : end]
    return sections


def document_routes() -> dict[tuple[str, str], dict[str, object]]:
    return {
        (method.upper(), path): operation
        for path, item in openapi.document()["paths"].items()
        for method, operation in item.items()
    }


def test_api_md_documents_exactly_the_routes_of_the_openapi_document() -> None:
    documented = set(documented_sections())
    served = set(document_routes())
    assert documented - served == set(), "docs/api.md documents routes the daemon does not have"
    assert served - documented == set(), "routes of the daemon missing from docs/api.md"


def test_api_md_names_each_query_parameter_of_a_route() -> None:
    document = openapi.document()
    sections = documented_sections()
    for route, operation in document_routes().items():
        for reference in operation.get("parameters", []):  # type: ignore[attr-defined]
            parameter = document["components"]["parameters"][reference["$ref"].split("/")[-1]]
            if parameter["in"] == "query":
                code = " ".join(_CODE.findall(sections[route]))
                assert re.search(rf"\b{parameter['name']}\b", code), (route, parameter["name"])


def test_api_md_error_table_has_a_row_for_each_status_of_the_error_classes() -> None:
    """The table of errors says it is the daemon's own list: each status an error class answers
    with has its row (502, a migration's target that cannot be reached, had none)."""
    rows = {int(status) for status in re.findall(r"^\| (\d{3}) \|", API_DOC.read_text(), re.M)}
    statuses = {
        cls.status
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.DaemonError)
    }
    assert 400 in rows
    assert statuses - rows == set()


def test_api_md_conventions_name_every_answer_that_is_not_json() -> None:
    """The conventions say answers are JSON "except" some: each success of another media type
    in the OpenAPI document is named there, its route and its type. They named two streams,
    and a migration's steps (POST .../migrate, application/x-ndjson too) were not among them
    (found in trial5 with curl -i)."""
    text = API_DOC.read_text()
    found = re.search(r"^- \*\*Answers\*\* (.*?)(?=^- \*\*)", text, re.M | re.S)
    assert found, "no Answers convention in docs/api.md"
    bullet = " ".join(found[1].split())
    for route, operation in document_routes().items():
        responses: dict[str, Any] = operation["responses"]  # type: ignore[assignment]
        for status, answer in responses.items():
            for media in answer.get("content", {}) if status.startswith("2") else ():
                if media == "application/json":
                    continue
                name = route[1].rsplit("/", 1)[-1]
                assert f"`{media}`" in bullet or media == "text/plain", (route, media)
                assert name in bullet, (route, media)


def test_every_exit_event_the_docs_show_has_the_fields_the_daemon_sends() -> None:
    """An ``exit`` the docs show as the daemon's answer has ``exitedAt`` (left out only of an
    ``unseen`` one), and an init's whose restart policy starts the container again says
    ``restarting`` (events.md). The restart policies' example and the event stream's in
    api.md had neither, from before both were sent (found in trial5, running them again)."""
    shown = 0
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            start = line.find('{"type":"exit"')
            if start < 0:
                continue
            event = json.loads(line[start:])
            shown += 1
            assert "exitedAt" in event or event.get("unseen"), (doc.name, line)
            assert "exitedAt" not in event or not event.get("unseen"), (doc.name, line)
    assert shown > 5


def restarted_exits(text: str) -> list[dict[str, Any]]:
    """The init exits of the restart policies' example in ``text`` (api.md), in order."""
    section = text.split("#### Restart policies", 1)[1].split("\n#", 1)[0]
    return [
        json.loads(line)
        for line in section.splitlines()
        if line.startswith('{"type":"exit"') and '"init":true' in line
    ]


def test_the_restart_example_s_exits_say_which_are_restarted() -> None:
    """on-failure with maximumRetryCount 2: the first two exits are restarted, the last not."""
    exits = restarted_exits(API_DOC.read_text())
    assert [bool(event.get("restarting")) for event in exits] == [True, True, False]


def unnamed_modules(design: str, package: Path) -> list[str]:
    """The modules of ``package`` of :data:`FINDABLE_LINES` lines or more that ``design``
    names, in code, neither by file name (`` `attach.py` ``, `` `api/fast.py` ``) nor by
    package (`` `archive/` ``)."""
    named = set(_CODE.findall(design))
    missing = []
    for module in sorted(package.rglob("*.py")):
        if module.name in ("__init__.py", "__main__.py"):
            continue
        if len(module.read_text().splitlines()) < FINDABLE_LINES:
            continue
        path = module.relative_to(package)
        names = {f"`{path.name}`", f"`{path.as_posix()}`"}
        names |= {f"`{parent.as_posix()}/`" for parent in path.parents if parent != Path(".")}
        if not names & named:
            missing.append(path.as_posix())
    return missing


def test_design_md_names_every_module_of_some_size() -> None:
    assert unnamed_modules(DESIGN_DOC.read_text(), PACKAGE) == []


def test_the_module_check_finds_a_module_left_out(tmp_path: Path) -> None:
    """The check itself: a long module not named is found; a short one, one named, and one
    in a package named whole are not."""
    long = "x = 1\n" * FINDABLE_LINES
    (tmp_path / "kept.py").write_text(long)
    (tmp_path / "forgotten.py").write_text(long)
    (tmp_path / "small.py").write_text("x = 1\n")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "export.py").write_text(long)
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "fast.py").write_text(long)
    design = "| `kept.py` | `archive/` | `api/fast.py` |\nforgotten.py, unquoted\n"
    assert unnamed_modules(design, tmp_path) == ["forgotten.py"]


#: An example of logs.md: `printf '...'` and the record it makes, in the code block after it.
_PRINTF_RECORD = re.compile(
    r"`printf '([^'`]*)'`(?:(?!```).)*?makes:\s*```\s*(\{[^\n]*\})\s*```", re.DOTALL
)


def printf_bytes(format: str) -> bytes:
    """What ``printf FORMAT`` writes, for the escapes logs.md's examples use (octal, ``\\n``)."""
    return re.sub(
        rb"\\([0-7]{1,3}|n)",
        lambda m: b"\n" if m[1] == b"n" else bytes((int(m[1], 8),)),
        format.encode(),
    )


def test_the_records_logs_md_shows_for_bytes_not_utf8_are_the_logger_s() -> None:
    """Each ``printf`` example of logs.md makes the record it shows (its ``data`` and ``raw``),
    and one shows a U+FFFD that stands for more than one byte: the start of a character cut
    short is one U+FFFD, however many of its bytes came. logs.md said one for each byte,
    which the logger (Python's "replace") never did (found in trial9, with ``printf
    'A\\342\\202B\\n'`` in a container: ``"data":"A\\ufffdB\\n"``)."""
    examples = _PRINTF_RECORD.findall((ROOT / "docs" / "logs.md").read_text())
    assert examples
    several_bytes_one_mark = False
    for format, shown in examples:
        written = printf_bytes(format)
        record = json.loads(LineSource("stdout", 11538).records(written))
        expected = json.loads(shown)
        assert (record["data"], record.get("raw")) == (expected["data"], expected.get("raw"))
        not_utf8 = len(written) - len(written.decode("utf-8", "ignore").encode())
        several_bytes_one_mark |= 0 < record["data"].count("\ufffd") < not_utf8
    assert several_bytes_one_mark, "no example shows a character cut short"


def test_page_md_gives_the_size_of_the_pages_files() -> None:
    """docs/page.md's size of the page's files, plain and gzipped as the daemon sends them, is
    theirs, rounded to the KiB: it said 102 KiB and 35 KiB while they had grown to 104 and 36."""
    from containerd_trio.api.page import static_files

    files = static_files().values()
    plain = round(sum(len(file.body) for file in files) / 1024)
    gzipped = round(sum(len(file.gzipped) for file in files) / 1024)
    said = re.search(
        r"The page's files are (\d+) KiB, (\d+) KiB\s+gzipped",
        (ROOT / "docs" / "page.md").read_text(),
    )
    assert said is not None, "docs/page.md no longer gives the size of the page's files"
    assert (int(said[1]), int(said[2])) == (plain, gzipped)
