"""``ctr-trio``: the command line of containerd-trio, a thin layer over :mod:`.http`.

``ctr-trio [--address ADDRESS] [--json] COMMAND ...``; see ``docs/cli.md``.
Commands come in groups (``containers start``, ``checkpoints create``) and, for the daily ones,
as shortcuts at the top, with docker's names and short flags (``ps``, ``rm -f``, ``logs -f``).

Exit codes mean something, so that scripts can branch on them: 0 success, 1 the daemon answered
with an error (its message goes to stderr as one line), 2 a usage error, 3 the daemon could not
be reached (or went away), 130 interrupted (Ctrl-C, the normal way to leave ``events``,
``logs -f`` and ``stats --watch``).

:func:`run` does the work and returns the exit code, writing to the streams it is given (tests
pass ``io.StringIO``); :func:`main`, the console script, wraps it with ``sys.exit``.
"""

from __future__ import annotations

# Every call of ctr-trio pays for what is imported here before it does anything: argparse and
# the client only (no Trio, nothing of the daemon), and the client once the command line is
# read. docs/cli.md gives the figure; tests/test_cli.py checks what is imported.
import argparse
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TextIO

from .. import __version__
from ..listen import ADDRESS_FORMS
from . import about, commands
from .commands import (
    CPU_PERIOD,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    STOP_TIMEOUT,
    DaemonCheck,
    Handler,
)
from .output import CONTAINER_HEADERS, PROG, Output, RowTemplate
from .types import RestartPolicy

if TYPE_CHECKING:
    from .http import ApiError, Client
    from .template import Template

__all__ = [
    "CONTAINER_HEADERS",
    "DEFAULT_ADDRESS",
    "ENV_ADDRESS",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "Output",
    "build_parser",
    "main",
    "run",
]

ENV_ADDRESS = "CONTAINERD_TRIO_ADDRESS"
#: The detach keys of a session when --detach-keys does not give them (docker's notation).
ENV_DETACH_KEYS = "CTR_TRIO_DETACH_KEYS"
DEFAULT_ADDRESS = "127.0.0.1:8888"


# --- the parser -------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse that writes help and usage errors to the given streams, not to ``sys.*``.

    So that :func:`run` keeps all of its output where its caller asked, even from a thread.
    Subcommand parsers made with :meth:`command` inherit the streams, and note themselves in
    the parsed arguments (``command_parser``), so that an error found after parsing is told
    with the usage of the command it is about.

    No abbreviated long options, as docker's parser takes none: argparse's would read
    ``attach --sig web`` as ``--sig-proxy web`` and take the ID for its value, and a script's
    abbreviation would change meaning once another option shares its start. Each parser,
    subcommands' too (argparse makes them of this class), is made so.
    """

    def __init__(
        self, *args: Any, stdout: TextIO | None = None, stderr: TextIO | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def commands(self, title: str) -> argparse._SubParsersAction[Parser]:
        return self.add_subparsers(dest=title, metavar=title.upper(), required=True)

    def command(
        self,
        commands: argparse._SubParsersAction[Parser],
        name: str,
        help: str,
        handler: Handler | None = None,
        *,
        aliases: Sequence[str] = (),
        json_flag: bool = True,
    ) -> Parser:
        parser = commands.add_parser(
            name,
            aliases=list(aliases),
            help=help,
            description=help,
            stdout=self.stdout,
            stderr=self.stderr,
        )
        parser.set_defaults(command_parser=parser)
        if handler is not None:
            parser.set_defaults(handler=handler)
        if json_flag:
            # --json is global, but people write it after the command too. SUPPRESS: when it is
            # not given here, the global one's value stands.
            parser.add_argument(
                "--json",
                action="store_true",
                default=argparse.SUPPRESS,
                help="print the daemon's JSON",
            )
        return parser

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # A switch alone is its value, true: written as one word, so that argparse does not
        # take the next word (the ID of `attach --sig-proxy web`) for its value.
        given = None if args is None else list(args)
        if args is not None:
            args = _switches_written_out(self, args)
        parsed, extras = super().parse_known_args(args, namespace)
        # run's and start's options after the ID, read again as ours (argparse took them for
        # the command's): here, where a command's own parser reads its words (argparse gives
        # it a namespace of its own), so that any parse of ours has them so.
        ours = args is not None and namespace is None and vars(parsed).get("command_parser") is self
        if ours and (moved := _options_before_command(list(args or ()), parsed)) is not None:
            parsed, extras = super().parse_known_args(moved)
            # run ID --name NAME: --name came among our options after the ID (a --name before
            # it leaves every word to the command), so the id is given twice (_run_id).
            parsed.named_after_id = vars(parsed).get("name") is not None
        if given is not None:
            _command_as_given(parsed, given)
        return parsed, extras

    def format_usage(self) -> str:
        return self._switches_shown(super().format_usage())

    def format_help(self) -> str:
        return self._switches_shown(super().format_help())

    def _switches_shown(self, text: str) -> str:
        """A switch's value as it is written, after an ``=``: ``--sig-proxy[=true|false]``."""
        for action in self._actions:
            if isinstance(action, Switch):
                value = action.metavar
                for option in action.option_strings:
                    text = text.replace(f"{option} {value}", f"{option}[={value}]")
        return text

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse names sys.stdout (help, --version) and sys.stderr: ours instead.
        if file is None or file is sys.stdout:
            file = self.stdout
        elif file is sys.stderr:
            file = self.stderr
        if message:
            file.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.stderr.write(message)
        raise SystemExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _address(text: str) -> str:
    from .protocol import Endpoint

    try:
        Endpoint.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _label(text: str) -> tuple[str, str]:
    """``K=V``, or ``K`` alone for an empty value, as docker's ``--label`` takes it."""
    key, _, value = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE or KEY")
    return key, value


def _restart_policy(text: str) -> RestartPolicy:
    """docker's ``--restart``: ``no``, ``always``, ``unless-stopped``, ``on-failure`` or
    ``on-failure:N`` (at most N restarts; 0: no limit), as the daemon's ``restartPolicy``;
    an empty one is ``no``, as docker's CLI takes it (sent as ``no``, which every daemon
    takes and the checks of ``--rm`` here know)."""
    if not text:
        return RestartPolicy(name="no")
    name, sep, count = text.partition(":")
    policy = RestartPolicy(name=name)
    if name in ("no", "always", "unless-stopped", "on-failure") and not sep:
        return policy
    if name == "on-failure" and count.isascii() and count.isdigit():
        policy["maximumRetryCount"] = _integer(count)
        return policy
    raise argparse.ArgumentTypeError(
        f"{text!r} is not no, always, unless-stopped, on-failure or on-failure:N"
    )


def _restart_change(text: str) -> RestartPolicy:
    """``update --restart``: as :func:`_restart_policy`, but an empty one changes nothing (an
    empty name, which :func:`.commands.containers_update` does not send), as docker's update:
    its CLI parses the flag only when it is not empty, and its daemon changes a policy only
    for a name."""
    return RestartPolicy(name="") if not text else _restart_policy(text)


def _env(text: str) -> str:
    """``K=V``, or ``K`` alone for ours, as docker takes it: ``K=<our value>`` where we have one,
    else ``K``, which docker leaves out: :func:`..environment.merge_env` takes it out of an
    exec's environment, and a start leaves it out of its ``process.env``
    (:func:`.commands.start_process`)."""
    name, sep, _ = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE or KEY")
    if sep or name not in os.environ:
        return text
    return f"{name}={os.environ[name]}"


#: The largest number, either way, that ctr-trio sends: a 64-bit integer's, the most any field
#: of the daemon's takes (a memory limit in bytes). A longer number the daemon refuses with the
#: whole body, before it knows which field held it ("the request body holds an integer of 23
#: digits"): each option's numbers are held to it here, and so refused with the option's name.
MAX_NUMBER = 2**63 - 1
#: The most seconds a --timeout or --retry may say: ctr-trio waits that long itself, and a
#: socket's timeout overflows past 2**63 ns (9.2e9 s). A billion seconds is 31 years.
MAX_SECONDS = 10**9


def _in_range(text: str, value: float) -> None:
    """Refuse a number past :data:`MAX_NUMBER`, naming it as written."""
    if not -MAX_NUMBER - 1 <= value <= MAX_NUMBER:
        from ..errors import quoted

        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is out of range: the daemon takes no number past 2**63-1"
            f" ({MAX_NUMBER})"
        )


def _integer(text: str) -> int:
    """A whole number as the daemon reads one (:func:`..numbers.whole_number`: ASCII digits, an
    optional sign, nothing else; int() also reads other scripts' digits, white space and ``_``),
    held to :data:`MAX_NUMBER` (ValueError where it is no whole number)."""
    from ..numbers import whole_number

    if len(text.strip().lstrip("+-").lstrip("0")) > len(str(MAX_NUMBER)):
        _in_range(text, math.inf)  # more digits than any field takes: said as out of range
    value = whole_number(text)
    _in_range(text, value)
    return value


def _user(text: str) -> tuple[int, int | None]:
    uid, sep, gid = text.partition(":")
    # Digits alone: no sign (a uid is no negative number, and "+0" no way to write one).
    if not all(part[:1].isdigit() for part in (uid, gid) if part or sep):
        raise argparse.ArgumentTypeError(f"{text!r} is not UID or UID:GID (numbers)")
    try:
        return _integer(uid), _integer(gid) if sep else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not UID or UID:GID (numbers)") from None


def _signal(text: str) -> int | str:
    """Checked as the daemon reads it (a usage error here, not a request refused), and sent as
    written: ``sent RTMIN+3 to web`` says the signal as the user named it. White space is
    refused there too: ``-s ' 9'`` printed ``sent  9 to web``, and no signal is written so (nor
    taken so by docker)."""
    from ..errors import InvalidRequest
    from ..signals import signal_number

    try:
        signal_number(text)
    except InvalidRequest as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return int(text) if text.isdigit() else text.upper()


def _id_rule(what: str) -> Callable[[str], str]:
    """An argument that names a container or a checkpoint, checked by the daemon's own rule
    (:mod:`..ids`, the same sentence as its 400): a usage error, exit 2, before any request,
    as a malformed signal is. Until 2026-12 the daemon refused it (exit 1), and an id with a
    ``/`` in other words than one with a space."""

    def check(text: str) -> str:
        from ..ids import invalid_id, is_id

        if not is_id(text):
            raise argparse.ArgumentTypeError(invalid_id(text, what))
        return text

    return check


_container_id = _id_rule("container id")
_checkpoint_name = _id_rule("checkpoint name")


def _id_problem(ids: Sequence[str]) -> str | None:
    """The usage error for the first of ``ids`` that is no container id (for the words that
    argparse cannot check alone: start's and wait's), as ``argument ID: ...``."""
    return _first_id_problem(("ID", container_id) for container_id in ids)


def _first_id_problem(named: Iterable[tuple[str, str]]) -> str | None:
    """The usage error for the first ``(METAVAR, text)`` whose text is no container id, in
    argparse's words: ``argument METAVAR: ...``."""
    for metavar, text in named:
        try:
            _container_id(text)
        except argparse.ArgumentTypeError as exc:
            return f"argument {metavar}: {exc}"
    return None


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return _integer(text)


def _stop_timeout(text: str) -> int:
    """run's ``--stop-timeout``: whole seconds, or -1 (no SIGKILL), as docker's; the daemon's
    bounds, a usage error here."""
    from ..signals import MAX_STOP_TIMEOUT

    if text.startswith("-") and text != "-1":
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more seconds, nor -1")
    value = -1 if text == "-1" else _count(text)
    if value > MAX_STOP_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: at most {MAX_STOP_TIMEOUT} seconds, or -1"
        )
    return value


def _tail(text: str) -> int | None:
    """``logs -n``: a count, or docker's ``all`` (its ``--tail`` default) or a negative count
    (docker's daemon takes one for all): every line. A ``+`` before the count is allowed, as
    docker's daemon reads the count (Go's ``Atoi``)."""
    if text == "all":
        return None
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, nor all")
    return None if text.startswith("-") else _integer(digits)


def _positive_count(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _decimal(text: str) -> float:
    """A number as the daemon reads one (:func:`..numbers.number`: ASCII digits only; float()
    also reads other scripts' digits, white space and ``_``: ``--cpus`` of Arabic-Indic digits
    1.5 was 1.5 CPUs); ValueError for anything else. Imported here, not by every call."""
    from ..numbers import number

    return number(text)


def _seconds(text: str) -> float:
    try:
        value = _decimal(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more seconds")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: at most {MAX_SECONDS} seconds (31 years)"
        )
    return value


def _moment(text: str) -> str:
    """A ``--since``/``--until``: a duration becomes the RFC 3339 time it names, here (as docker
    does), so that ``1.5h`` and ``250ms`` work, which the daemon's own durations do not take,
    and so that a follow taken up again after a reload keeps the same bound. A timestamp goes
    as typed, read first as the daemon reads it; anything else is a usage error here, as any
    bad option is, not the daemon's 400 in its words (which name its durations only)."""
    from ..timestamps import client_moment

    try:
        return client_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _target_bundle(text: str) -> str:
    # A directory on the target's host: this host's working directory says nothing of it.
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an absolute path: it names a directory on the target's host"
        )
    return text


def _deadline(text: str) -> float:
    """A checkpoint's, a restore's or a move's ``--timeout``: more than 0 seconds, as the
    daemon's body takes it. Judged here before :func:`_seconds`, whose ``0 or more`` would
    tell a user of ``-1`` that 0 is taken (it is not), and whose words name the value."""
    try:
        value = _decimal(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not more than 0 seconds")
    return _seconds(text)


#: Binary units of sizes, as docker takes them (64m, 1g, 512k, 1.5GiB, 1p).
_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}

#: A size as docker reads one (go-units' RAMInBytes): ASCII digits with a fraction, an
#: optional space, an optional unit, then an optional ``i`` and an optional ``b``, in any case.
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)*) ?([kmgtp]?)i?b?", re.IGNORECASE | re.ASCII)


def _bytes(text: str) -> int:
    """A size such as ``64m`` (or ``64MiB``, ``64MB``, ``64 m``: binary, as docker counts), or
    -1. What docker refuses is refused here too: before, ``64bb`` was 64 bytes, ``1e3m``
    and ``.5g`` were taken, and ``64 m`` and ``1p`` were not."""
    if text == "-1":
        return -1
    match = _SIZE.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        value = _decimal(match[1])  # ValueError for 1.2.3, as docker's ParseFloat
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: bytes, or a number with k, m, g, t or p (64m), or -1"
        ) from None
    unit = _SIZE_UNITS[match[2].lower()]
    _in_range(text, value * unit)
    return int(value * unit)


def _cpus(text: str) -> float:
    try:
        value = _decimal(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of CPUs") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more CPUs")
    return value


def _whole(text: str) -> int:
    """A whole number, -1 included (the daemon says which values it takes)."""
    try:
        return _integer(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _format(text: str) -> str | RowTemplate:
    """ps's ``--format``: a keyword as it is, else a template, read here so that a malformed
    one is a usage error before any request."""
    if text in ("json", "table", "ids"):
        return text
    from .output import PS_HEADINGS, PS_METHODS

    try:
        return RowTemplate(text, headings=PS_HEADINGS, methods=PS_METHODS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- the container commands: under `containers`, and the daily ones at the top too ------------


def _define_list(parser: Parser) -> None:
    parser.add_argument(
        "-f",
        "--filter",
        type=commands.parse_filter,
        action="append",
        default=[],
        metavar="KEY=VALUE[,...]",
        help="only containers with status=S (exited: stopped; restarting: stopped, its restart"
        " policy to start it again), exited=N (its exit status),"
        " label=K or label=K=V, an id starting id=P, or in which name=REGEXP is found (docker's:"
        " ^web$ is web alone); repeatable (one key's"
        " values are alternatives; different keys must all match)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only the ids; with --format too, as docker's (which it ignores, with docker's"
        " warning on stderr)",
    )
    # docker's ps cuts ids to 12 characters and commands to 20 unless --no-trunc, which
    # scripts write (docker ps -aq --no-trunc): nothing is cut here, so it changes nothing,
    # but docker's command line works as written (it was a usage error).
    parser.add_argument(
        "--no-trunc",
        action="store_true",
        help="the whole command in --format's {{.Command}}, as docker's (cut to 20 columns"
        " without it); nothing else is cut here (ids whole)",
    )
    newest = parser.add_mutually_exclusive_group()
    newest.add_argument(
        "-n", "--last", type=_count, metavar="N", help="only the N created last (of those listed)"
    )
    newest.add_argument(
        "-l", "--latest", action="store_true", help="only the one created last (as -n 1)"
    )
    # docker ps lists the running and paused only, unless -a; containers list, the 2015 ctr's
    # command, lists all (its default, ContainerCommand.top_defaults: ps's is docker's).
    parser.add_argument(
        "-a",
        "--all",
        action="store_true",
        default=True,
        help="all containers, created and stopped ones too (ps, ls: only running, paused and"
        " restarting ones without it, as docker's, unless -n, -l or a status filter; containers"
        " list: all, always)",
    )
    parser.add_argument(
        "--format",
        type=_format,
        metavar="json|table|ids|TEMPLATE",
        help="how to print: a TEMPLATE names fields as {{.ID}} {{.Names}} {{.Status}} {{.State}}"
        " {{.ExitStatus}} {{.PID}} {{.Processes}} {{.Created}} {{.CreatedAt}} {{.StartedAt}}"
        " {{.FinishedAt}} {{.Bundle}} {{.Labels}} {{.Command}} {{.RunningFor}}, with \\t and"
        " \\n, and inspect's functions:"
        " '{{json .}}', '{{.ID | json}}';"
        " 'table TEMPLATE' for aligned columns under a header",
    )


def _define_id(parser: Parser) -> None:
    parser.add_argument("id", type=_container_id, metavar="ID")


def _define_top(parser: Parser) -> None:
    _define_id(parser)
    # As docker top's: every word after ID is ps's (top web aux, top web -o pid,args), options
    # that look like ours too; ours go before ID.
    _optional_words(
        parser.add_argument(
            "ps_args",
            nargs=argparse.REMAINDER,
            metavar="PS OPTIONS",
            help="run the host's ps with these options on the container's processes",
        )
    )


def _optional_words(action: argparse.Action) -> None:
    """The words after an ID that may be left out (run's command, top's ps options): argparse
    counts a REMAINDER positional as required, and so named it where the ID was missing (``the
    following arguments are required: ID, CMD``), though it takes none as well."""
    action.required = False


class Switch(argparse.Action):
    """A boolean option as docker's (pflag's) are: ``--sig-proxy`` alone is true, and a value
    goes after an ``=`` only (``--sig-proxy=false``), never in the next word, which is the
    command's as if the option were not there. :meth:`Parser.parse_known_args` writes a switch
    given alone out as ``--NAME=true`` before argparse reads it."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, type=_boolean, metavar="true|false", **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)


_TRUE_WORDS = ("true", "1", "t")
_FALSE_WORDS = ("false", "0", "f")


def _boolean(text: str) -> bool:
    """As Go's strconv.ParseBool reads a docker flag's value (in any case here)."""
    if text.lower() in _TRUE_WORDS:
        return True
    if text.lower() in _FALSE_WORDS:
        return False
    # Each word taken, not "true or false" alone: --sig-proxy=0 is one.
    raise argparse.ArgumentTypeError(
        f"{text!r} is not one of {', '.join((*_TRUE_WORDS, *_FALSE_WORDS))} (any case)"
    )


def _command_as_given(args: argparse.Namespace, given: Sequence[str]) -> None:
    """The command's words of ``args`` (run's, start's, exec's: the tail of the words its
    parser read) as they were ``given``: :func:`_switches_written_out` wrote a word of the
    command that is one of our switches as ours (``run -b DIR web prog --sig-proxy`` ran
    ``prog --sig-proxy=true``); it writes each word in its place, so the tail is the same
    length."""
    name: str = getattr(args, "command_line", "")
    words: list[str] | None = getattr(args, name, None) if name else None
    if words:
        setattr(args, name, list(given[len(given) - len(words) :]))


def _switches_written_out(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with each switch of ``parser`` given alone written ``--NAME=true``; a ``--``
    ends the options (what follows is left as it is)."""
    switches = {
        option
        for action in parser._actions
        if isinstance(action, Switch)
        for option in action.option_strings
    }
    words = list(argv)
    if switches:
        options = words.index("--") if "--" in words else len(words)
        words[:options] = [f"{w}=true" if w in switches else w for w in words[:options]]
    return words


def _define_sig_proxy(parser: Parser) -> None:
    parser.add_argument(
        "--sig-proxy",
        action=Switch,
        default=True,
        help="without a terminal, send the signals we get on to the process, as docker's: all"
        " it may catch (Ctrl-C, SIGTERM, SIGUSR1, the real-time ones...) but SIGCHLD, SIGPIPE,"
        " SIGWINCH, faults and job control (Ctrl-Z stops ctr-trio), and the third SIGTERM or"
        " SIGINT, which ends ctr-trio (default true); false: they end ctr-trio alone, the"
        " process running on",
    )


def _detach_keys(text: str) -> bytes:
    from .interactive import parse_detach_keys

    try:
        return parse_detach_keys(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _address_of_environment(args: argparse.Namespace) -> str | None:
    """Read :data:`ENV_ADDRESS` into ``args.address`` where ``--address`` did not give it; the
    problem if it is no address. Checked as the option is, a usage error: taken unchecked, a
    bogus one ended in the client's traceback (ValueError), exit 1."""
    if args.address is not None or not os.environ.get(ENV_ADDRESS):
        return None  # given, or unset (or empty, as unset): run() takes the default
    try:
        args.address = _address(os.environ[ENV_ADDRESS])
    except argparse.ArgumentTypeError as exc:
        return f"${ENV_ADDRESS}: {exc}"
    return None


def _detach_keys_of_environment(args: argparse.Namespace) -> str | None:
    """Read :data:`ENV_DETACH_KEYS` into ``args.detach_keys`` where the command takes detach
    keys and ``--detach-keys`` did not give them; the problem if it holds no keys. Read with the
    command line, as the option is: a bad value is a usage error before any request. (Read once
    the session began, after the start or the exec, it left `run --rm`'s container running
    for good, never handed to the daemon, and `exec`'s process running, unseen.)"""
    if getattr(args, "detach_keys", b"") is not None or ENV_DETACH_KEYS not in os.environ:
        return None  # given, or not a session's command, or unset: _attach takes the default
    try:
        args.detach_keys = _detach_keys(os.environ[ENV_DETACH_KEYS])
    except argparse.ArgumentTypeError as exc:
        return f"${ENV_DETACH_KEYS}: {exc}"
    return None


def _define_interactive(parser: Parser, *, tty: str, stdin: str) -> None:
    """``-t``, ``-i`` and ``--detach-keys``, as docker has them."""
    parser.add_argument("-t", "--tty", action="store_true", help=tty)
    parser.add_argument("-i", "--interactive", action="store_true", help=stdin)
    parser.add_argument(
        "--detach-keys",
        type=_detach_keys,
        metavar="KEYS",
        help="the keys that detach, leaving the process running (default: $CTR_TRIO_DETACH_KEYS,"
        " else ctrl-p,ctrl-q; an ASCII character, ctrl-<letter>, ctrl-@, ctrl-[, ctrl-\\,"
        " ctrl-], ctrl-^ or ctrl-_ each, comma-separated; '' for none)",
    )


def _define_limits(parser: Parser) -> None:
    """The cgroup limits, with docker's flags: ``update``'s, and ``run``'s and ``start``'s."""
    parser.add_argument(
        "-m",
        "--memory",
        type=_bytes,
        metavar="SIZE",
        help="memory limit: bytes, or 64m, 1g (binary units), at least 6m; -1 for none; 0 is"
        " docker's unset (the bundle's at a start, unchanged by update)",
    )
    parser.add_argument(
        "--memory-swap",
        type=_bytes,
        metavar="SIZE",
        help="-1: no swap limit (lifts the bundle's), with --memory or alone; 0: unset",
    )
    parser.add_argument(
        "--cpus",
        type=_cpus,
        metavar="N",
        help="CPU time as a number of CPUs (0.5: half of one), as a CFS quota of a 100000 us"
        " period (not with --cpu-quota or --cpu-period, as docker); kept: a later update's"
        " --cpu-quota or --cpu-period is refused until --cpus 0 lifts it; refused itself by"
        " an update once a --cpu-period was given, or a --cpu-quota (until --cpu-quota -1)",
    )
    parser.add_argument(
        "-c",
        "--cpu-shares",
        type=_whole,
        metavar="N",
        help="CPU weight (the kernel's default is 1024); 0: unset, as docker's",
    )
    parser.add_argument(
        "--cpu-quota",
        type=_whole,
        metavar="US",
        help="CFS quota in microseconds; -1 for none; 0: unset, as docker's",
    )
    parser.add_argument(
        "--cpu-period",
        type=_whole,
        metavar="US",
        help="CFS period in microseconds (default 100000); 0: unset, as docker's",
    )
    parser.add_argument(
        "--pids-limit",
        type=_whole,
        metavar="N",
        help="most processes at once; -1 or 0 for none (docker's)",
    )
    # --cpus within the daemon's machine's CPUs, as docker's daemon checks it.
    parser.set_defaults(daemon_check=commands.cpus_problem)


#: The options of :func:`_define_limits`, as argparse names them and as written.
_LIMITS = (
    ("memory", "--memory"), ("memory_swap", "--memory-swap"), ("cpus", "--cpus"),
    ("cpu_shares", "--cpu-shares"), ("cpu_quota", "--cpu-quota"),
    ("cpu_period", "--cpu-period"), ("pids_limit", "--pids-limit"),
)  # fmt: skip


def _limits_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the limits given together (each one's own range is the daemon's).
    ``--cpus`` is a quota of docker's period, 100000 us: with ``--cpu-period`` or
    ``--cpu-quota`` it is refused in docker's words (its daemon's, for NanoCPUs beside a
    CPUPeriod or CPUQuota), as docker refuses them; 0 is no option given (docker's unset).
    Until 2026-12-04 ``--cpu-period`` went with ``--cpus`` (a quota of that many periods)."""
    if args.cpus and args.cpu_period:
        return (
            "Conflicting options: Nano CPUs and CPU Period cannot both be set (--cpus and"
            " --cpu-period: --cpus is a quota of a 100000 us period)"
        )
    if args.cpus and args.cpu_quota:
        return (
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set (--cpus and"
            " --cpu-quota: --cpus sets the quota)"
        )
    # The one number made of others: a quota of --cpus periods (resource_change).
    if args.cpus is not None and args.cpus * CPU_PERIOD > MAX_NUMBER:
        return (
            f"argument --cpus: {args.cpus:g} is out of range: its quota would pass 2**63-1"
            f" microseconds ({MAX_NUMBER}), and the daemon takes no number past that"
        )
    return None


def _define_start(parser: Parser, *, attach_default: bool = False) -> None:
    if attach_default:  # run: a new container, from its bundle
        # Checked by _start_problem, not by argparse: with --name, this word is the command's
        # first (run --name web -b DIR /bin/sh), no id; without, it is required.
        parser.add_argument(
            "id", nargs="?", metavar="ID", help="the container's id (or --name: then no ID)"
        )
        parser.add_argument(
            "--name",
            type=_container_id,
            metavar="NAME",
            help="the container's id, as docker's run --name: in place of ID, every word after"
            " the options being the command's (run --name web -b DIR sh -c 'echo hi')",
        )
        # Required (_start_problem), not by argparse: given after the ID it is still ours, once
        # argparse read it as the command's first word (see _options_after_id).
        parser.add_argument("-b", "--bundle", metavar="DIR", help="the OCI bundle directory")
    else:
        # start: one from its bundle, or, as docker's start, stopped ones again without -b.
        parser.add_argument("ids", nargs="+", metavar="ID")
        parser.add_argument(
            "-b",
            "--bundle",
            metavar="DIR",
            help="the OCI bundle directory (one ID, and a command after it if any); without"
            " it, each ID names a stopped container, started again from its bundle as it was"
            " started (its labels, limits and command; a running one is left as it is)",
        )
    # After the ID, as docker run IMAGE CMD...: our options first (run web -b DIR), then the
    # command from its first word on, its options too (run -b DIR web sh -c 'echo hi'), or
    # after a -- (see _options_after_id).
    _optional_words(
        parser.add_argument(
            "args",
            nargs=argparse.REMAINDER,
            metavar="CMD",
            help="the command to run instead of the bundle's process.args, and its arguments",
        )
    )
    _define_process(parser, env="added to the bundle's (or in place of its value)")
    # run always takes -b: the form without it (docker's start --checkpoint) is start's alone,
    # and run's help named it until 2026-12-06 (run --checkpoint NAME ID: "-b is required").
    restore = "restore from this checkpoint in the bundle (-b) instead"
    if not attach_default:
        restore += " (without -b: in the stopped container's own, as docker's start --checkpoint)"
    parser.add_argument("--checkpoint", type=_checkpoint_name, metavar="NAME", help=restore)
    parser.add_argument(
        "-l",
        "--label",
        type=_label,
        action="append",
        default=[],
        metavar="K=V|K",
        help="a label to keep with the container (repeatable); K alone: K with an empty value",
    )
    parser.add_argument(
        "--rm",
        action="store_true",
        help="remove the container, its log too, once it exits (as docker's); attached, we"
        " end once it is removed",
    )
    _define_restart(parser, "start it again once it exits")
    parser.add_argument(
        "--stop-signal",
        type=_signal,
        metavar="SIG",
        help="the signal a stop that names none sends first (stop, restart, rm), as docker's;"
        " kept with the container (default SIGTERM)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=_stop_timeout,
        metavar="SECONDS",
        help=f"the grace of a stop that names none before its SIGKILL, as docker's; -1: no"
        f" SIGKILL; kept with the container (default {STOP_TIMEOUT:g})",
    )
    if attach_default:
        parser.add_argument(
            "-d", "--detach", action="store_true", help="only start it: print its pid and go"
        )
    else:
        parser.add_argument(
            "-a",
            "--attach",
            action="store_true",
            help="stay attached: its output here, and its exit status as ours (without -b: one"
            " stopped container started again, as docker's start -a)",
        )
    _define_interactive(
        parser,
        tty="give it a terminal (if the bundle's process has none) and attach to it, in raw mode",
        stdin="keep its stdin open and send ours to it (implies --attach), our input's end"
        " closing it (not a terminal's: that ends the session); run -i without -d makes the"
        " container stdinOnce (docker's StdinOnce: any attach's input's end closes it too);"
        " without -b, as docker's start"
        " -ai: ours to the container started again, if its start kept its stdin open (run -i);"
        " to a running one as attach sends it",
    )
    parser.add_argument(
        "--timeout",
        type=_deadline,
        metavar="SECONDS",
        help="with --checkpoint: the seconds the restore may take (default: the daemon's, 600)",
    )
    _define_sig_proxy(parser)
    _define_limits(parser)  # as docker run --memory: laid over the bundle's, as update does
    parser.set_defaults(
        attach_default=attach_default, check=_start_problem, command_line="args",
        options_until="command",
    )  # fmt: skip


#: start's options that only a start from a bundle takes: without -b, the container starts
#: again as the daemon holds it (commands.start_again: its limits too), detached, or with -a
#: attached to its output, and with -i its input too (commands.start_attached), as docker's
#: start -ai. Its terminal is the one its start gave it: no -t, as docker's start has none.
_BUNDLE_START_OPTIONS = (
    ("tty", "-t"), ("checkpoint", "--checkpoint"),
    ("label", "-l"), ("rm", "--rm"), *_LIMITS, ("env", "-e"), ("env_file", "--env-file"),
    ("cwd", "-w"), ("user", "-u"),
    ("restart", "--restart"), ("stop_signal", "--stop-signal"), ("stop_timeout", "--stop-timeout"),
)  # fmt: skip


def _define_restart(parser: Parser, what: str, *, change: bool = False) -> None:
    """``--restart``: a start's (an empty one is no), or with ``change`` update's (an empty
    one leaves the policy as it is), as docker's run and update take them."""
    empty = "no, '' (as it is)" if change else "no (or '')"
    parser.add_argument(
        "--restart",
        type=_restart_change if change else _restart_policy,
        metavar="POLICY",
        help=f"{what}, as docker's: {empty}, always, unless-stopped, on-failure[:N] (at"
        " most N times); a stop (stop, kill, rm) is final",
    )


def _start_problem(args: argparse.Namespace) -> str | None:
    if args.attach_default and (problem := _run_id(args)):
        return problem
    if args.timeout is not None and args.checkpoint is None:
        return "--timeout is the deadline of a restore: give --checkpoint too"
    if problem := _limits_problem(args):
        return problem
    if args.rm and args.restart is not None and args.restart["name"] != "no":
        return "--restart and --rm conflict: a container removed at its exit is not started again"
    if args.attach_default and args.bundle is None:  # run
        return "the following arguments are required: -b/--bundle"
    if not args.attach_default:  # start
        if args.bundle is None:
            if problem := _id_problem(args.ids):
                return problem
            given = [o for name, o in _BUNDLE_START_OPTIONS if _given(getattr(args, name))]
            alone = not (args.args or args.attach or args.interactive)
            if given == ["--checkpoint"] and alone:
                # docker's start --checkpoint NAME ID: a restore from the container's own
                # bundle, as the daemon lists it (commands.containers_start).
                if len(args.ids) > 1:
                    return "--checkpoint without -b/--bundle restores one container: give one ID"
                return None
            if given or args.args:
                return (
                    f"{', '.join(given) or 'a command'} without -b/--bundle: start ID... starts"
                    " stopped containers again as they were, detached (-a: attached to one,"
                    " -i: its input too); give -b for the rest"
                )
            if (args.attach or args.interactive) and len(args.ids) > 1:
                # docker's: "you cannot start and attach multiple containers at once".
                option = "-a" if args.attach else "-i"
                return f"{option} attaches to one container: give one ID (or leave out {option})"
            return None
        # With -b, one ID: the words after it are the command (ids took its first ones).
        [args.id, *command] = args.ids
        if problem := _id_problem([args.id]):
            return problem
        args.args = [*command, *args.args]
    if args.args and args.args[0] == "--":
        del args.args[0]  # the end of our options, when nothing of ours came after the ID
    if args.checkpoint is not None and (
        args.args or args.env or args.env_file or args.cwd or args.user
    ):
        return (
            "a command, -e, --env-file, -w and -u are not for --checkpoint: a restore runs"
            " what was checkpointed"
        )
    return _read_env_files(args) or _not_text(args)


def _run_id(args: argparse.Namespace) -> str | None:
    """Read run's ``--name`` into ``args.id``, as docker's ``run --name``: with it, the word
    argparse took for the ID is the command's first; the problem where the id is not given
    once (neither, or both: an ID, then ``--name`` among our options after it), or is none."""
    if args.name is None:
        if args.id is None:
            return "the following arguments are required: ID (or --name NAME)"
        return _id_problem([args.id])
    if getattr(args, "named_after_id", False):
        return (
            f"--name {args.name} and ID {args.id} both name the container: give one of them"
            " (with --name, the words after the options are the command)"
        )
    if args.id is not None:
        args.args = [args.id, *args.args]
    args.id = args.name
    return None


def _given(value: object) -> bool:
    """An option not left at its default (None, False, []): ``--cpus 0`` is given."""
    return value is not None and value is not False and value != []


def _define_run(parser: Parser) -> None:
    _define_start(parser, attach_default=True)


def _define_exec(parser: Parser) -> None:
    _define_id(parser)
    parser.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="only start it: print its pid and go (its output goes to the container's log)",
    )
    _define_interactive(
        parser,
        tty="give it a terminal, ours in raw mode (with -i), sized as ours",
        stdin="keep its stdin open and send ours to it, our input's end closing it (not a"
        " terminal's: that ends the session)",
    )
    _define_process(parser, env="added to the container's")
    # Everything after ID is the command's, its options too (ctr-trio exec web ls -l), as
    # docker's exec takes it; but options of ours after ID and before a -- are ours, as this
    # synopsis had them (ctr-trio exec web -e X=1 -- ls): see _options_after_id.
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="the command and its arguments"
    )
    parser.set_defaults(check=_has_command, command_line="args")


def _define_process(parser: Parser, *, env: str) -> None:
    """What a process runs with, as docker has the options: ``exec``'s, and ``run``'s and
    ``start``'s (for the init, instead of the bundle's)."""
    parser.add_argument(
        "-e",
        "--env",
        type=_env,
        action="append",
        metavar="K=V|K",
        help=f"environment variable, {env} (repeatable); K alone: ours, or none if we have none",
    )
    parser.add_argument(
        "--env-file",
        action="append",
        metavar="FILE",
        help="environment variables from FILE, as docker's: a line K=V (the value as written,"
        " quotes too) or K (ours, or none); blank lines and # lines skipped (repeatable; -e"
        " after them wins)",
    )
    # --workdir is docker's name for it.
    parser.add_argument(
        "-w",
        "--cwd",
        "--workdir",
        dest="cwd",
        metavar="DIR",
        help="working directory (default: the bundle's)",
    )
    parser.add_argument(
        "-u",
        "--user",
        type=_user,
        metavar="UID[:GID]",
        help="user and group ids (default: the bundle's)",
    )


def _has_command(args: argparse.Namespace) -> str | None:
    if not args.args:
        return "give the command to run after ID (ctr-trio exec web sh)"
    return _read_env_files(args) or _not_text(args)


def _read_env_files(args: argparse.Namespace) -> str | None:
    """Put the entries of ``--env-file``'s files before ``-e``'s in ``args.env``, as docker
    reads them (the last of a key wins); the problem of one that cannot be read, or is not
    docker's format. Read once the command line is known good otherwise."""
    if not args.env_file:
        return None
    from .envfile import EnvFileError, read_env_files

    try:
        entries = read_env_files(args.env_file, os.environ)
    except EnvFileError as exc:
        return f"argument --env-file: {exc}"
    args.env = [*entries, *(args.env or [])]
    return None


def _not_text(args: argparse.Namespace) -> str | None:
    """The first of a process's words (its command, ``-e``, ``-w``) that is not UTF-8, said:
    the API carries them as JSON text, which has no other bytes (a word Python read from argv
    or our environment holds each such byte as a lone surrogate). It was sent all the same,
    and the daemon refused "the request body", whose JSON ctr-trio wrote; docker's CLI puts
    U+FFFD in their place and runs something else than was asked."""
    words = [
        *((f"the command's word {n}", word) for n, word in enumerate(args.args or [], 1)),
        *(("-e", entry) for entry in args.env or []),
        *(("-w", word) for word in [args.cwd] if word is not None),
    ]
    for where, word in words:
        try:
            word.encode()
        except UnicodeEncodeError:
            shown = os.fsencode(word)
            return (
                f"{where} ({shown[:40]!r}{'...' if len(shown) > 40 else ''}) is not UTF-8: the"
                " API carries a process's command, environment and working directory as JSON"
                " text, which holds no other bytes"
            )
    return None


#: docker's ``checkpoint`` actions, which ``checkpoints`` has (``ls``, ``create``, ``rm``).
_CHECKPOINT_ACTIONS = ("create", "ls", "list", "rm", "delete")


def _docker_checkpoint_words(argv: list[str], args: argparse.Namespace) -> list[str] | None:
    """``argv`` with docker's ``checkpoint ls ID``, ``checkpoint create ID NAME`` and
    ``checkpoint rm ID NAME`` made ``checkpoints``' (None where it is none of them): the
    singular ``checkpoint ID NAME`` read ``checkpoint ls web`` as a checkpoint named web of a
    container ls (and made it, where one was). A container named after an action is
    checkpointed with ``checkpoints create``."""
    if not args.command_parser.prog.endswith(" checkpoint"):
        return None
    if args.id not in _CHECKPOINT_ACTIONS:
        return None
    for at in range(len(argv) - 1):
        if argv[at] == "checkpoint" and argv[at + 1] == args.id:
            return [*argv[:at], "checkpoints", *argv[at + 1 :]]
    return None


def _options_after_id(argv: list[str], args: argparse.Namespace) -> list[str] | None:
    """``argv`` again with the options given after ``exec``'s ID and before a ``--`` moved
    before the ID, where argparse takes them as ours (``exec web -e X=1 -- ls`` as ``exec -e
    X=1 web -- ls``: without a ``--``, all are the command's, as docker's exec has them); None
    where there are none. The command's words are the tail of argv."""
    words: list[str] = getattr(args, getattr(args, "command_line", ""), None) or []
    if not words or not words[0].startswith("-") or "--" not in words:
        return None
    if getattr(args, "options_until", None) == "command":
        return None  # run's and start's: the parser's (_options_before_command)
    at = len(argv) - len(words) - 1  # the ID's place
    dashes = words.index("--")
    return [*argv[:at], *words[:dashes], argv[at], *words[dashes:]]


def _options_before_command(argv: list[str], args: argparse.Namespace) -> list[str] | None:
    """``run``'s or ``start``'s words ``argv`` again with our options given after the ID and
    before the command's first word (or a ``--``) moved before the ID (``run web -b DIR sh -c
    x`` as ``run -b DIR web sh -c x``), as they always were ours there; None where there are
    none, or it is not such a command."""
    if getattr(args, "options_until", None) != "command":
        return None
    if getattr(args, "name", None) is not None:
        return None  # run --name NAME: no ID, the words are the command's, its options too
    words: list[str] = args.args
    if not words or not words[0].startswith("-"):
        return None
    if argv[len(argv) - len(words) - 1] == "--":
        return None  # run -b DIR web -- -it sh: argparse took out the -- that ends ours
    ids = args.ids if "ids" in args else [args.id]
    if len(ids) > 1 and args.bundle is not None:
        return None  # start -b DIR web sh -c x: ids took the command's first word
    ours = _leading_options(args.command_parser, words)
    if not ours:
        return None
    at = len(argv) - len(words) - len(ids)  # the first ID's place
    return [*argv[:at], *words[:ours], *argv[at : at + len(ids)], *words[ours:]]


def _leading_options(parser: argparse.ArgumentParser, words: Sequence[str]) -> int:
    """How many of ``words`` are options of ``parser`` (with their values) before the first
    word that is not one, or a ``--``. A word that looks like an option but is none of ours
    (``-x``, ``--version``, ``-1``) is the command's first, as any other word."""
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        key = word.partition("=")[0] if word.startswith("--") else word[:2]
        if key not in parser._option_string_actions:
            break
        index += 1
        if word.startswith("--"):
            index += parser._option_string_actions[key].nargs != 0 and "=" not in word
            continue
        # -it, -m64m, -m 64m: switches, then at most one that takes a value (the rest of the
        # word, or the next word).
        for at in range(1, len(word)):
            action = parser._option_string_actions.get(f"-{word[at]}")
            if action is not None and action.nargs != 0:
                index += at == len(word) - 1
                break
    return index


def _define_attach(parser: Parser) -> None:
    _define_id(parser)
    parser.add_argument(
        "--pid", type=_positive_count, metavar="PID", help="this process instead of the init"
    )
    parser.add_argument(
        "--no-stdin",
        action="store_true",
        help="do not send our input to the process (sent, its end ends this session and leaves"
        " the process's stdin open for the next attach, as docker's without StdinOnce; of the"
        " init of a container run -i attached, stdinOnce, it closes it, as docker's)",
    )
    parser.add_argument(
        "--logs", action="store_true", help="first its output from its start (from the log)"
    )
    parser.add_argument(
        "--detach-keys",
        type=_detach_keys,
        metavar="KEYS",
        help="the keys that detach (default: $CTR_TRIO_DETACH_KEYS, else ctrl-p,ctrl-q)",
    )
    _define_sig_proxy(parser)


def _define_wait(parser: Parser) -> None:
    # ID... as docker's wait, and ID PID as before: a PID is told from an ID by being a
    # number, and only as the second of two words (see _wait_targets).
    parser.add_argument(
        "ids",
        nargs="+",
        metavar="ID",
        help="the containers, each one's status on a line in this order ('moved to ADDRESS'"
        " for one that moved to another daemon); or ID PID: a process instead of the init",
    )
    parser.add_argument(
        "--condition",
        choices=("not-running", "next-exit", "removed"),
        help="as docker's: not-running (the default), the init's next-exit (for a stopped"
        " container, that of its next start), or removed (once the container is gone too)",
    )
    parser.set_defaults(check=_wait_targets)


def _wait_targets(args: argparse.Namespace) -> str | None:
    """Read ``wait``'s words into ``args.ids`` and ``args.pid``: ``ID PID`` (two words, the
    second a number) is a process, as it always was; any other words are containers, as
    docker's wait takes them. (A container whose id is a number is read as a PID only as the
    second of two: given first, it is a container.)"""
    args.pid = None
    if len(args.ids) == 2 and args.ids[1].isascii() and args.ids[1].isdigit():
        try:
            args.pid = _positive_count(args.ids[1])
        except argparse.ArgumentTypeError as exc:
            return f"argument PID: {exc}"
        args.ids = args.ids[:1]
    if args.condition and args.pid:
        return "--condition is the init's: not with PID"
    return _id_problem(args.ids)


def _define_ids(parser: Parser) -> None:
    parser.add_argument("ids", nargs="+", type=_container_id, metavar="ID")


def _define_signal(parser: Parser) -> None:
    """``-s/--signal``, SIGTERM unless given (shell completion offers the names to a SIG);
    the top level's ``kill`` changes that default to docker's (its ``top_defaults``), and its
    help says which it is."""
    parser.add_argument(
        "-s",
        "--signal",
        type=_signal,
        default="SIGTERM",
        metavar="SIG",
        help="number or name, RTMIN+N and RTMAX-N too (default %(default)s)",
    )


def _define_kill(parser: Parser) -> None:
    _define_ids(parser)
    _define_signal(parser)
    parser.add_argument(
        "--pid",
        type=_positive_count,
        metavar="PID",
        help="signal this process of the container instead of its init (one ID only)",
    )
    parser.set_defaults(
        check=lambda args: "--pid takes one ID" if args.pid and len(args.ids) > 1 else None
    )


def _grace(text: str) -> float:
    """stop's ``-t``: seconds, or -1 (newer docker's): no SIGKILL, the exit waited for however
    long it takes."""
    try:
        forever = _decimal(text) == -1
    except ValueError:
        forever = False  # not a number: _seconds says so
    if forever:
        return -1.0
    try:
        return _seconds(text)
    except argparse.ArgumentTypeError:
        if text.strip().startswith("-"):  # a negative number other than -1
            raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more seconds, nor -1") from None
        raise


def _define_stop(parser: Parser) -> None:
    _define_ids(parser)
    # Neither has a default of its own: left out, the container's (its start's --stop-signal
    # and --stop-timeout), as docker's stop takes its StopSignal and StopTimeout.
    parser.add_argument(
        "-s",
        "--signal",
        type=_signal,
        metavar="SIG",
        help="number or name, RTMIN+N and RTMAX-N too (default: the container's stop signal,"
        " its --stop-signal, else SIGTERM)",
    )
    # docker's -t is --timeout, and --time before it (which docker still takes): both here.
    parser.add_argument(
        "-t",
        "--timeout",
        "--time",
        type=_grace,
        metavar="SECONDS",
        help=f"grace between the signal and SIGKILL (default: the container's, its"
        f" --stop-timeout, else {STOP_TIMEOUT:g}); -1: no SIGKILL, wait for the exit however"
        " long it takes",
    )


def _inspect_format(text: str) -> str | Template:
    """inspect's ``--format``: docker's ``json`` as it is, else a template, read here so that a
    malformed one is a usage error before any request."""
    if text == "json":
        return text
    from .template import TemplateError, parse

    try:
        return parse(text)
    except TemplateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _define_about_format(parser: Parser, examples: str) -> None:
    """``version``'s and ``info``'s ``-f/--format``, docker's: a template on the JSON that
    ``--json`` prints."""
    parser.add_argument(
        "-f",
        "--format",
        type=_inspect_format,
        metavar="json|TEMPLATE",
        help=f"as docker's: a Go template on the JSON of --json, keys as the daemon spells them"
        f" ({examples}); json: that JSON on one line",
    )


def _define_inspect(parser: Parser) -> None:
    _define_ids(parser)
    parser.set_defaults(json=True)  # docker's inspect prints JSON only
    parser.add_argument(
        "-f",
        "--format",
        type=_inspect_format,
        metavar="json|TEMPLATE",
        help="a line per container, as docker's: a Go template on its JSON, such as"
        " '{{.state.status}}', '{{json .state}}', '{{index .labels \"team\"}}'"
        " (see docs/cli.md); json: the array on one line",
    )
    # docker's inspect --type, which scripts write to be sure of what they read (docker
    # inspect --type=container web): the daemon's objects are all containers (it was a usage
    # error, unrecognized arguments).
    parser.add_argument(
        "--type",
        type=_object_type,
        metavar="container",
        help="accepted as docker's: the daemon's objects are all containers",
    )


def _object_type(text: str) -> str:
    if text != "container":
        raise argparse.ArgumentTypeError(
            f"{text!r}: the daemon's objects are all containers (--type container)"
        )
    return text


def _define_delete(parser: Parser) -> None:
    _define_ids(parser)
    parser.add_argument(
        "-t",
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="grace between the stop signal (its --stop-signal, else SIGTERM) and SIGKILL"
        " (default: the daemon's, the container's --stop-timeout, else 10); containers delete"
        " only: rm stops nothing without -f",
    )
    parser.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="SIGKILL alone, at once: no stop signal, no grace (docker's rm -f; -t left aside)",
    )
    # docker's rm -v removes the container's anonymous volumes; a bundle has none, so there is
    # nothing more to remove, but scripts' `rm -fv ID` works as written (it was a usage error
    # in argparse's words: "ignored explicit argument 'v'").
    parser.add_argument(
        "-v", "--volumes", action="store_true", help="accepted as docker's: there are no volumes"
    )
    # containers delete stops a live container and removes it (the 2015 ctr's); the top
    # level's rm is docker's, which removes a stopped one only, unless -f (its top_defaults).
    parser.set_defaults(stopped_only=False, check=_rm_grace)


def _rm_grace(args: argparse.Namespace) -> str | None:
    """The usage error of the top level's ``rm -t`` without -f: it stops nothing, so there is
    no grace to give (docker's rm has no -t); ``containers delete -t`` stops, then removes."""
    if args.stopped_only and not args.force and args.timeout is not None:
        return (
            "rm -t: rm removes stopped containers only, with no grace to give (-f: SIGKILL"
            " alone; containers delete -t SECONDS stops and removes)"
        )
    return None


def _define_prune(parser: Parser) -> None:
    # docker's prune asks before it deletes, and -f does not ask: scripts say it. This one
    # never asks, so -f changes nothing (as ps -a), but docker's command line works as written.
    parser.add_argument(
        "-f", "--force", action="store_true", help="accepted as docker's: prune never asks"
    )


def _define_update(parser: Parser) -> None:
    _define_ids(parser)
    _define_limits(parser)
    _define_restart(parser, "its restart policy, from its next exit on", change=True)

    def check(args: argparse.Namespace) -> str | None:
        if args.restart is None and all(getattr(args, name) is None for name, _ in _LIMITS):
            return (
                "give at least one limit: --memory, --memory-swap, --cpus, --cpu-shares,"
                " --cpu-quota, --cpu-period or --pids-limit, or --restart"
            )
        return _limits_problem(args)

    parser.set_defaults(check=check)


def _define_criu_options(parser: Parser) -> None:
    """What CRIU may take along, as ``checkpoint`` and ``migrate`` (a move is a checkpoint
    there) both take it: one set of flags for the one body (``routes._criu_options``)."""
    parser.add_argument("--tcp", action="store_true", help="keep established TCP connections")
    parser.add_argument("--unix-sockets", action="store_true", help="allow external unix sockets")
    parser.add_argument("--shell", action="store_true", help="allow a shell job")


def _define_checkpoint(parser: Parser) -> None:
    _define_id(parser)
    parser.add_argument("name", type=_checkpoint_name, metavar="NAME")
    leave = parser.add_mutually_exclusive_group()
    leave.add_argument("--exit", action="store_true", help="stop the container afterwards")
    # docker's checkpoint create stops the container unless --leave-running; here running on
    # is the default (--exit stops it), so the flag docker users type says what happens.
    leave.add_argument(
        "--leave-running",
        action="store_true",
        help="leave the container running afterwards (the default; docker's flag)",
    )
    _define_criu_options(parser)
    parser.add_argument(
        "--timeout",
        type=_deadline,
        metavar="SECONDS",
        help="the seconds the checkpoint may take (default: the daemon's, 600)",
    )


def _define_cp(parser: Parser) -> None:
    parser.add_argument(
        "source", metavar="SRC", help="ID:PATH in a container, or a local path (- : a tar on stdin)"
    )
    parser.add_argument(
        "destination",
        metavar="DEST",
        help="ID:PATH in a container, or a local path (- : a tar to stdout)",
    )
    parser.add_argument(
        "-a",
        "--archive",
        action="store_true",
        help="keep the owners (uid and gid) of what is copied, as docker cp -a",
    )
    parser.add_argument(
        "-L", "--follow-link", action="store_true", help="copy what a link at SRC points to"
    )
    # docker's -q quiets its progress line at a terminal: cp prints none, so it changes
    # nothing, and a script's `docker cp -q` works as written.
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="accepted as docker's: there is no progress output to quiet",
    )
    parser.set_defaults(check=_cp_containers)


def _cp_containers(args: argparse.Namespace) -> str | None:
    """The usage error for an ``ID:PATH`` whose ID is none (``cp a/b:/ -``)."""
    from .copying import side  # cp's own module (tarfile): imported by cp only

    named = (("SRC", side(args.source).container), ("DEST", side(args.destination).container))
    return _first_id_problem((metavar, text) for metavar, text in named if text is not None)


def _define_export(parser: Parser) -> None:
    _define_id(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE (whole, or not at all) instead of stdout, which must not be a terminal",
    )


def _define_migrate(parser: Parser) -> None:
    _define_id(parser)
    parser.add_argument(
        "--to",
        required=True,
        type=_address,
        # As --address (:meth:`.Endpoint.parse`): URLs too, which the metavar of the two
        # plain forms left out (until 2026-12-06).
        metavar="ADDRESS",
        help=f"the target daemon's API, as the source daemon reaches it: {ADDRESS_FORMS}",
    )
    parser.add_argument(
        "--pre-copy",
        type=_count,
        default=0,
        metavar="N",
        help="rounds of memory copied while it runs (needs the kernel's dirty-page tracking)",
    )
    parser.add_argument(
        "--with-bundle",
        action="store_true",
        help="copy the bundle (config.json and rootfs) too: the target has none",
    )
    parser.add_argument(
        "--target-bundle",
        type=_target_bundle,
        metavar="DIR",
        help="the bundle's absolute path on the target (default: the same as here)",
    )
    _define_criu_options(parser)
    # The body's timeout, as checkpoint's --timeout: a move is a checkpoint there.
    parser.add_argument(
        "--timeout",
        type=_deadline,
        metavar="SECONDS",
        help="the seconds each dump here may take (default: the daemon's, 600)",
    )


class ContainerCommand(NamedTuple):
    name: str
    help: str
    handler: Handler
    define: Callable[[Parser], None]
    aliases: tuple[str, ...] = ()
    #: Its names at the top level (the first is the name, the rest aliases), if any.
    top: tuple[str, ...] = ()
    #: Its defaults at the top level where they are not ``containers``'s: the top level's
    #: names are docker's words and take docker's defaults (ps lists the live containers, kill
    #: sends SIGKILL), where the group keeps the 2015 ctr's (it listed every container).
    top_defaults: tuple[tuple[str, object], ...] = ()
    #: It takes ``--json`` after its name; not one whose output is no JSON (a tar archive).
    json_flag: bool = True
    #: Its help at the top level, where its docker's defaults make it another command.
    top_help: str = ""


CONTAINER_COMMANDS = (
    ContainerCommand(
        "list", "list the containers", commands.containers_list, _define_list,
        aliases=("ls", "ps"), top=("ps", "ls"), top_defaults=(("all", False),),
    ),
    ContainerCommand("get", "show containers", commands.containers_get, _define_ids),
    ContainerCommand(
        "inspect", "print containers' JSON in one array, as docker inspect does",
        commands.containers_inspect, _define_inspect, top=("inspect",),
    ),
    ContainerCommand(
        "start", "start a container from an OCI bundle, or stopped containers again",
        commands.containers_start, _define_start, top=("start",),
    ),
    ContainerCommand(
        "run", "start a container and stay attached (-it: interactively)",
        commands.containers_run, _define_run, top=("run",),
    ),
    ContainerCommand(
        "exec", "run another process in a running container, attached (-d: detached)",
        commands.containers_exec, _define_exec, top=("exec",),
    ),
    ContainerCommand(
        "attach", "attach to a process of a container: its terminal or output, its input",
        commands.containers_attach, _define_attach, top=("attach",),
    ),
    ContainerCommand(
        "wait", "wait for a container (or one of its processes) to exit; print its status",
        commands.containers_wait, _define_wait, top=("wait",),
    ),
    ContainerCommand(
        "kill", "send a signal to containers or one of their processes",
        commands.containers_kill, _define_kill, top=("kill",),
        top_defaults=(("signal", "SIGKILL"),),  # docker kill's; containers kill: SIGTERM
    ),
    ContainerCommand(
        "stop", "stop containers: a signal, then SIGKILL after a grace; they stay, stopped",
        commands.containers_stop, _define_stop, top=("stop",),
    ),
    ContainerCommand(
        "restart", "stop containers as stop does, then start them again as start ID does",
        commands.containers_restart, _define_stop, top=("restart",),
    ),
    ContainerCommand(
        "pause", "freeze all processes of containers", commands.containers_pause, _define_ids,
        top=("pause",),
    ),
    ContainerCommand(
        "resume", "thaw paused containers", commands.containers_resume, _define_ids,
        aliases=("unpause",), top=("resume", "unpause"),  # unpause: docker's word
    ),
    ContainerCommand(
        "delete", "stop containers and remove them", commands.containers_delete,
        _define_delete, aliases=("rm",), top=("rm",),
        # docker rm's: a live container is refused unless -f; containers delete stops it.
        top_defaults=(("stopped_only", True),),
        top_help="remove stopped containers (-f: live ones too, SIGKILLed first)",
    ),
    ContainerCommand(
        "prune", "remove every stopped container (not a restarting one)",
        commands.containers_prune,
        _define_prune, top=("prune",),
    ),
    ContainerCommand(
        "update", "change containers' cgroup limits (memory, CPU, pids)",
        commands.containers_update, _define_update, top=("update",),
    ),
    ContainerCommand(
        "top", "list every process in a container, as ps -ef shows them (or ps OPTIONS)",
        commands.containers_top, _define_top, top=("top",),
    ),
    ContainerCommand(
        "cp", "copy files between a container and this machine, as docker cp",
        commands.cp, _define_cp, top=("cp",), json_flag=False,
    ),
    ContainerCommand(
        "export", "write a container's filesystem as a tar archive, as docker export",
        commands.export, _define_export, top=("export",), json_flag=False,
    ),
    ContainerCommand(
        "migrate", "move a running container to another daemon", commands.migrate,
        _define_migrate, top=("migrate",),
    ),
)  # fmt: skip


# --- the rest of the commands -----------------------------------------------------------------


def _define_checkpoints(top: Parser, actions: argparse._SubParsersAction[Parser]) -> None:
    # ls and rm: docker's names (docker checkpoint ls, rm), as containers have them.
    listing = top.command(
        actions,
        "list",
        "list a container's checkpoints, oldest first",
        commands.checkpoints_list,
        aliases=("ls",),
    )
    _define_id(listing)
    _define_checkpoints_bundle(listing)
    _define_checkpoint(
        top.command(
            actions, "create", "checkpoint a running container", commands.checkpoints_create
        )
    )
    remove = top.command(
        actions, "delete", "delete a checkpoint", commands.checkpoints_delete, aliases=("rm",)
    )
    _define_id(remove)
    remove.add_argument("name", type=_checkpoint_name, metavar="NAME")
    _define_checkpoints_bundle(remove)


def _define_checkpoints_bundle(parser: Parser) -> None:
    # The API's bundlePath: a checkpoint outlives its container, in the bundle. create takes
    # none: it checkpoints a running container, whose bundle the daemon knows.
    parser.add_argument(
        "-b",
        "--bundle",
        metavar="DIR",
        help="the container's bundle, for one the daemon does not list (deleted, or on another"
        " daemon); relative to the current directory",
    )


def _define_events(parser: Parser) -> None:
    parser.add_argument(
        "--since",
        type=_moment,
        metavar="TIME",
        help="replay past events from this time on first: RFC 3339 (or its date on: 2026-11-28),"
        " Unix time, or back from now (1h, 90s)",
    )
    # Repeatable, as -f container= is: given again it took the last alone, and the other
    # containers' events were left out in silence (trial7, 2026-12-06).
    parser.add_argument(
        "--id",
        type=_container_id,
        action="append",
        help="only this container's events (repeatable: any of them)",
    )
    parser.add_argument(
        "--type",
        type=commands.parse_event_types,
        action="extend",
        metavar="TYPE[,TYPE]",
        help="only events of these types (exit, oom, start-container, ...; repeatable)",
    )
    parser.add_argument(
        "-f",
        "--filter",
        type=commands.parse_event_filter,
        action="append",
        default=[],
        metavar="KEY=VALUE[,...]",
        help="as docker's: container=ID (as --id; several: any of them), event=NAME (as --type,"
        " docker's die (an init's exit), exec_die (another's), start, exec_start, unpause and"
        " destroy too; several: any of them),"
        " type=container or type=daemon (the daemon's own: daemon-stopping),"
        " label=KEY or label=KEY=VALUE (the labels each event carries, its"
        " container's when it came; several: all of them); repeatable (different keys must all"
        " match)",
    )
    parser.add_argument(
        "--until",
        type=_moment,
        metavar="TIME",
        help="stop once the events reach this time: RFC 3339 (or its date on), Unix time, or back"
        " from now (10m)",
    )
    parser.add_argument(
        "-n",
        "--count",
        type=_positive_count,
        metavar="N",
        help="stop after N events (for scripts)",
    )
    parser.add_argument(
        "--format",
        type=_inspect_format,
        metavar="json|TEMPLATE",
        help="a line per event, as docker's: a Go template on its JSON, keys as the daemon"
        " spells them ('{{.timestamp}} {{.type}} {{.id}}', '{{.status}}', '{{json .labels}}');"
        " json: '{{json .}}'; an event it does not fit ends the command, exit 1",
    )
    parser.set_defaults(check=commands.event_selection)


def _define_logs(parser: Parser) -> None:
    _define_id(parser)
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until no process of the container can write more",
    )
    parser.add_argument(
        "-n", "--tail", type=_tail, metavar="N", help="only the last N lines (all: every line)"
    )
    parser.add_argument(
        "-t",
        "--timestamps",
        action="store_true",
        help="each record on a line of its own, after its time (RFC 3339)",
    )
    parser.add_argument(
        "--details",
        action="store_true",
        help="as docker's: the attributes of each record's log options before it, and a space;"
        " the daemon has no log options, so the space alone, as docker's without them",
    )
    for bound, what in (("since", "from"), ("until", "up to")):
        parser.add_argument(
            f"--{bound}",
            type=_moment,
            metavar="TIME",
            help=f"only lines {what} this time: RFC 3339 (or its date on: 2026-11-28), Unix time,"
            " or back from now (10m, 1h30m, 90s)",
        )


def _define_stats(parser: Parser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        type=_container_id,
        metavar="ID",
        help="the containers (with --watch or --no-stream: all running if none; none, and"
        " neither: --watch, as docker stats)",
    )
    parser.add_argument(
        "-a",
        "--all",
        action="store_true",
        help="with no ID, as docker's: every container, created and stopped ones too, with"
        " zeroed figures (no record of theirs with --json)",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="a live table of CPU %%, memory, block I/O and pids, redrawn every second until"
        " Ctrl-C",
    )
    how.add_argument(
        "--no-stream",
        action="store_true",
        help="that table once (CPU %% over a second), then exit, as docker's",
    )
    parser.add_argument(
        "--no-trunc",
        action="store_true",
        help="taken, as docker's, and changes nothing: ids are never cut here",
    )
    parser.add_argument(
        "--format",
        type=_stats_format,
        metavar="table|json|TEMPLATE",
        help="with --no-stream or --watch, how to print each row, as docker's: a TEMPLATE names"
        " fields as {{.Container}} {{.Name}} {{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}}"
        " {{.BlockIO}} {{.PIDs}}, with \\t and ps's functions; 'table TEMPLATE' for aligned"
        " columns under docker's headers; json: '{{json .}}' (default: table)",
    )
    parser.set_defaults(check=_stats_problem)


def _stats_format(text: str) -> str | RowTemplate:
    """stats's ``--format``: ``table`` as it is, else docker's stats template (``json`` is
    ``{{json .}}``, as docker's), read here so that a malformed one is a usage error before
    any request. Its fields are :mod:`.watch`'s, imported only when one is given."""
    if text == "table":
        return text
    from .output import JSON_ROW
    from .watch import stats_template

    try:
        return stats_template(JSON_ROW if text == "json" else text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stats_problem(args: argparse.Namespace) -> str | None:
    if args.watch or args.no_stream:
        return None
    if not args.ids:
        # docker's `docker stats`: the live table of every running container (-a: every
        # one), until Ctrl-C, as --watch; it was a usage error (give one ID, or ...).
        args.watch = True
        return None
    if len(args.ids) != 1:
        return "give one ID, or --no-stream or --watch for several (or all running; -a: all)"
    if args.format is not None:
        # stats ID alone lists one container's figures, a line each: no row to format.
        return "--format is for the table of --no-stream or --watch: give one of them"
    return None


def _completion(client: Client | None, args: argparse.Namespace, out: Output) -> int:
    from .completion import script

    out.stdout.write(script(args.shell, build_parser(), PROG))
    return EXIT_OK


def _add_bench(parser: argparse.ArgumentParser, *, load: bool) -> None:
    """Let :mod:`.bench` define ``ctr-trio bench``; without it, the rest of the CLI still works.

    Imported here, not at the top, and only when ``load`` (the command line says bench): it
    brings Trio and the rest of the benchmark, a tenth of a second that no other command should
    pay; and a bench that cannot be imported (absent, or missing a dependency) must not take the
    other commands down with it.
    """
    parser.set_defaults(offline=True)  # it connects (or runs a daemon) itself
    if not load:
        # Then the command line cannot select bench; only its entry in --help is needed.
        return
    try:
        from .. import bench
    except ImportError as exc:
        reason = str(exc)

        def unavailable(client: Client | None, args: argparse.Namespace, out: Output) -> int:
            out.error(f"bench is not available ({reason})")
            return EXIT_ERROR

        parser.set_defaults(handler=unavailable)
        return

    bench.add_arguments(parser)

    def run_bench(client: Client | None, args: argparse.Namespace, out: Output) -> int:
        return bench.run(args)

    parser.set_defaults(handler=run_bench)


LOGS_HELP = "print a container's stdout and stderr"
STATS_HELP = "show containers' cgroup figures, once or as they change"


def build_parser(
    stdout: TextIO | None = None, stderr: TextIO | None = None, *, bench: bool = True
) -> Parser:
    """The whole command line; ``bench=False`` leaves ``bench``'s own arguments out."""
    top = Parser(
        prog=PROG, description="The command line of containerd-trio.", stdout=stdout, stderr=stderr
    )
    top.add_argument(
        "--address",
        type=_address,
        default=None,  # resolved in run(): bench without an address runs a daemon of its own
        metavar="ADDRESS",
        help=f"the daemon's API: {ADDRESS_FORMS} (default: ${ENV_ADDRESS}, else {DEFAULT_ADDRESS})",
    )
    top.add_argument(
        "--json",
        action="store_true",
        help="print the daemon's JSON (one document, or ndjson for streams)",
    )
    top.add_argument(
        "--retry",
        type=_seconds,
        metavar="SECONDS",
        help="while the daemon refuses connections or answers 503 (it restarts), try again for"
        " this long (default 15, version and info 0; 0: never)",
    )
    top.add_argument(
        "--tls-ca", metavar="FILE", help="with https://: the CA of the daemon's certificate"
    )
    top.add_argument(
        "--tls-cert", metavar="FILE", help="with https://: a client certificate (mutual TLS)"
    )
    top.add_argument("--tls-key", metavar="FILE", help="the key of --tls-cert")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    groups = top.commands("command")

    containers = top.command(
        groups,
        "containers",
        "list, start and manage containers",
        # docker's management command: docker container prune, docker container ls
        aliases=("container",),
        json_flag=False,
    )
    actions = containers.commands("action")
    for command in CONTAINER_COMMANDS:
        command.define(
            top.command(
                actions,
                command.name,
                command.help,
                command.handler,
                aliases=command.aliases,
                json_flag=command.json_flag,
            )
        )
    # docker's container group has its logs and stats too (docker container logs web): the
    # top level's commands, under the group as well, where they were an invalid choice.
    _define_logs(top.command(actions, "logs", LOGS_HELP, commands.logs))
    _define_stats(top.command(actions, "stats", STATS_HELP, commands.stats))
    checkpoints = top.command(
        groups, "checkpoints", "checkpoint containers with CRIU", json_flag=False
    )
    _define_checkpoints(top, checkpoints.commands("action"))
    _define_events(
        top.command(
            groups, "events", "print events as they happen, until interrupted", commands.events
        )
    )
    _define_logs(top.command(groups, "logs", LOGS_HELP, commands.logs))
    _define_stats(top.command(groups, "stats", STATS_HELP, commands.stats))
    top.command(groups, "state", "show the machine and all containers", commands.state)
    version = top.command(
        groups, "version", "show the client's and the daemon's versions (runc's, CRIU's)",
        about.version,
    )  # fmt: skip
    version.set_defaults(retry_default=about.VERSION_RETRY)
    _define_about_format(version, "'{{.server.version}}', '{{json .server.runc}}'")
    info = top.command(
        groups, "info", "show the daemon's containers, paths, cgroups, CPUs, memory, uptime",
        about.info,
    )  # fmt: skip
    info.set_defaults(retry_default=about.VERSION_RETRY)
    _define_about_format(info, "'{{.serverVersion}}', '{{.containersRunning}}'")
    _define_checkpoint(
        top.command(
            groups,
            "checkpoint",
            "checkpoint a running container (checkpoints create)",
            commands.checkpoints_create,
        )
    )
    daemon = top.command(groups, "daemon", "the daemon itself", json_flag=False)
    top.command(
        daemon.commands("action"),
        "reload",
        "replace the serving process with the code on disk; containers run on",
        commands.daemon_reload,
    )
    # The daily container commands at the top, as docker has them (ctr-trio ps, rm, exec).
    for command in CONTAINER_COMMANDS:
        if command.top:
            name, *aliases = command.top
            parser = top.command(
                groups, name, command.top_help or command.help, command.handler,
                aliases=aliases, json_flag=command.json_flag,
            )  # fmt: skip
            command.define(parser)
            parser.set_defaults(**dict(command.top_defaults))
    completion = top.command(
        groups, "completion", "print a shell completion script", _completion, json_flag=False
    )
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(offline=True)
    # No --json of ours here: bench defines its own arguments.
    _add_bench(top.command(groups, "bench", "benchmark the daemon", json_flag=False), load=bench)
    return top


# --- entry points -------------------------------------------------------------------------------


def run(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``ctr-trio`` with ``argv`` (default ``sys.argv[1:]``); return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        parser = build_parser(stdout, stderr, bench="bench" in argv)
        args, extras = parser.parse_known_args(argv)
        if (docker := _docker_checkpoint_words(argv, args)) is not None:
            args, extras = parser.parse_known_args(argv := docker)
        if (moved := _options_after_id(argv, args)) is not None:
            args, extras = parser.parse_known_args(moved)
        command_parser: Parser = args.command_parser
        if extras:
            command_parser.error(f"unrecognized arguments: {shlex.join(extras)}")
        problem = getattr(args, "check", lambda args: None)(args)
        if problem is None:
            problem = _address_of_environment(args) or _detach_keys_of_environment(args)
        if problem is not None:
            command_parser.error(problem)
    except SystemExit as exc:  # --help, --version, or a usage error already explained
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(stdout, stderr, as_json=args.json)
    if getattr(args, "offline", False):  # bench and completion: no client, or their own
        offline: Callable[[None, argparse.Namespace, Output], int] = args.handler
        return offline(None, args, out)
    if args.address is None:
        args.address = DEFAULT_ADDRESS
    from .http import ApiError, Client, ClientError, DaemonUnreachable
    from .protocol import RETRY_FOR

    try:
        # The client's own retry default unless --retry says otherwise.
        retry_for = args.retry if args.retry is not None else getattr(args, "retry_default", None)
        retry = {} if retry_for is None else {"retry_for": retry_for}
        out.retry_for = RETRY_FOR if retry_for is None else retry_for
        with Client(
            args.address,
            **retry,
            on_retry=out.retrying,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ) as client:
            # The checks that need the daemon's word (--cpus: its machine's CPUs), usage
            # errors as the others, before the command's own request.
            check_with: DaemonCheck | None = getattr(args, "daemon_check", None)
            try:
                problem = None if check_with is None else check_with(client, args)
            except DaemonUnreachable as exc:
                if not getattr(args, "attach_default", False):
                    raise
                # run: no container ran, 125 as docker's run (and as its start, below).
                out.error(exc.for_user())
                return EXIT_RUN_REFUSED
            if problem is not None:
                try:
                    command_parser.error(problem)
                except SystemExit as exc:
                    return exc.code if isinstance(exc.code, int) else EXIT_USAGE
            handler: Handler = args.handler
            return handler(client, args, out)
    except ApiError as exc:
        out.error(exc.message)
        return _exit_code_of(exc)
    except DaemonUnreachable as exc:
        out.error(exc.for_user())
        return EXIT_UNREACHABLE
    except ClientError as exc:  # an answer, but not one the daemon would give
        out.error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        # Ctrl-C is how one leaves `events`, `logs -f` and `stats --watch`: no traceback.
        return EXIT_INTERRUPTED


#: The daemon's 400 for a process whose program cannot run (runtime.RuncError.refused_process):
#: ``cannot run 'x' in container 'c': REASON``.
_REFUSED_PROGRAM = "cannot run '"
#: Its 400 for a process whose working directory cannot be entered (RuncError.refused_process).
_REFUSED_CWD = "cannot use cwd '"
#: What docker's ``run`` and ``exec`` exit with then, and scripts test for: 127 for a program
#: that is not there, 126 for one that cannot be executed (or a cwd it cannot be run in:
#: docker's exec -w says 126 for that too).
EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXECUTE = 126
#: The reasons that are 127 (docker's daemon's: not there, or a file where a directory is on its
#: path); permission denied, a loop of symbolic links, a name too long are 126.
_NOT_FOUND = ("executable file not found", "no such file or directory", "not a directory")
#: What docker's ``run`` exits with when the daemon refuses its container (an id in use, no
#: bundle...): a script tells it from the process's own 1.
EXIT_RUN_REFUSED = 125


def _exit_code_of(error: ApiError) -> int:
    from .errors import RunRefused

    if error.status == 400 and error.message.startswith(_REFUSED_PROGRAM):
        if any(f": {reason}" in error.message for reason in _NOT_FOUND):
            return EXIT_NOT_FOUND
        return EXIT_CANNOT_EXECUTE
    if error.status == 400 and error.message.startswith(_REFUSED_CWD):
        return EXIT_CANNOT_EXECUTE
    if isinstance(error, RunRefused):
        return EXIT_RUN_REFUSED
    return EXIT_ERROR


def main() -> None:
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`ctr-trio events | head -1`). Point stdout at /dev/null so that the
        # interpreter's own flush at exit does not fail again, and exit as if killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + 13  # SIGPIPE
    sys.exit(code)


if __name__ == "__main__":
    main()
