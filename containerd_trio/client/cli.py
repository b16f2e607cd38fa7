"""``ctr-trio``: the command line of containerd-trio, a thin layer over :mod:`.http`.

``ctr-trio [--address HOST:PORT|unix:PATH] [--json] COMMAND ...``; see ``docs/cli.md``.

Exit codes mean something, so that scripts can branch on them: 0 success, 1 the daemon answered
with an error (its message goes to stderr as one line), 2 a usage error, 3 the daemon could not
be reached (or went away), 130 interrupted (Ctrl-C, the normal way to leave ``events`` and
``logs -f``).

:func:`run` does the work and returns the exit code, writing to the streams it is given (tests
pass ``io.StringIO``); :func:`main`, the console script, wraps it with ``sys.exit``.
"""

from __future__ import annotations

# Every call of ctr-trio pays for what is imported here before it does anything: argparse and
# the client only (no Trio, nothing of the daemon), and the client once the command line is
# read. docs/cli.md gives the figure; tests/test_cli.py checks what is imported.
import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from .http import Client, Container

PROG = "ctr-trio"
ENV_ADDRESS = "CONTAINERD_TRIO_ADDRESS"
DEFAULT_ADDRESS = "127.0.0.1:8888"

EXIT_OK = 0
EXIT_ERROR = 1  # the daemon said no (or its answer made no sense, or bench failed)
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 128 + 2  # SIGINT

Handler = Callable[["Client", argparse.Namespace, "Output"], int]


# --- output -----------------------------------------------------------------------------------


class Output:
    """Where a command writes, and how: tables and sentences for people, JSON for scripts."""

    def __init__(self, stdout: TextIO, stderr: TextIO, *, as_json: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.as_json = as_json
        self._said_retrying = False

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def document(self, value: Any) -> None:
        """One JSON document: the daemon's answer, as it sent it."""
        self.line(json.dumps(value, indent=2))

    def record(self, value: Any) -> None:
        """One line of an ndjson stream, flushed: whoever reads a stream reads it as it comes."""
        self.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
        self.stdout.flush()

    def table(self, headers: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> None:
        """Aligned columns, as ``docker ps`` prints them; no header line if ``headers`` is None."""
        rows = [*([list(headers)] if headers is not None else []), *(list(row) for row in rows)]
        if not rows:
            return
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.line("   ".join(cells).rstrip())

    def retrying(self, failure: Exception, pause: float) -> None:
        """Say once, to a person at a terminal, why nothing happens yet (scripts hear nothing:
        the failure, if it lasts, is said anyway)."""
        if not self._said_retrying and self.stderr.isatty():
            self._said_retrying = True
            self.stderr.write(f"{PROG}: {failure}; trying again\n")
            self.stderr.flush()

    def error(self, message: str) -> None:
        # One line, whatever the daemon sent (runc's and CRIU's errors span several): a script
        # that reads stderr line by line gets one complete message.
        parts = [part.strip() for part in message.splitlines() if part.strip()]
        self.stderr.write(f"{PROG}: {'; '.join(parts) or 'unknown error'}\n")


def _ago(stamp: str) -> str:
    """``5 seconds ago`` for an RFC 3339 timestamp; the timestamp as it is if it cannot be read."""
    from ..timestamps import parse_ns

    try:
        seconds = max(0, (time.time_ns() - parse_ns(stamp)) // 1_000_000_000)
    except ValueError:
        return stamp
    if seconds < 1:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    raise AssertionError("unreachable")  # pragma: no cover


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _status(container: Container) -> str:
    state = container["state"]
    if "exitStatus" in state:
        return f"{state['status']} (exit {state['exitStatus']})"
    return state["status"]


def _container_rows(containers: Iterable[Container]) -> list[list[str]]:
    return [
        [
            c["id"],
            _status(c),
            str(c["processes"][0]["pid"]) if c["processes"] else "-",
            str(len(c["processes"])),
            _ago(c["createdAt"]),
        ]
        for c in containers
    ]


CONTAINER_HEADERS = ("ID", "STATUS", "PID", "PROCESSES", "CREATED")


# --- commands ---------------------------------------------------------------------------------


def containers_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    containers = client.containers()
    if out.as_json:
        out.document(containers)
    else:
        out.table(CONTAINER_HEADERS, _container_rows(containers))
    return EXIT_OK


def containers_get(client: Client, args: argparse.Namespace, out: Output) -> int:
    container = client.container(args.id)
    if out.as_json:
        out.document(container)
        return EXIT_OK
    labels = container.get("labels") or {}
    fields = [
        ("ID", container["id"]),
        ("STATUS", _status(container)),
        ("BUNDLE", container["bundlePath"]),
        ("CREATED", f"{container['createdAt']} ({_ago(container['createdAt'])})"),
        ("LABELS", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"),
    ]
    out.table(None, fields)
    if container["processes"]:
        out.line()
        out.table(
            ("PID", "USER", "CWD", "ARGS"),
            [
                [
                    str(p["pid"]),
                    f"{p['user']['uid']}:{p['user']['gid']}",
                    p["cwd"],
                    " ".join(p["args"]),
                ]
                for p in container["processes"]
            ],
        )
    return EXIT_OK


def containers_start(client: Client, args: argparse.Namespace, out: Output) -> int:
    # The daemon needs an absolute path; a relative one means "from here", as for any command.
    bundle = os.path.abspath(args.bundle)
    container = client.start(args.id, bundle, checkpoint=args.checkpoint, labels=dict(args.label))
    if out.as_json:
        out.document(container)
    else:
        how = f" from checkpoint {args.checkpoint}" if args.checkpoint else ""
        out.line(f"started {container['id']}{how} (pid {container['processes'][0]['pid']})")
    return EXIT_OK


def containers_exec(client: Client, args: argparse.Namespace, out: Output) -> int:
    uid, gid = args.user if args.user is not None else (None, None)
    process = client.exec(args.id, args.args, env=args.env, cwd=args.cwd, uid=uid, gid=gid)
    if out.as_json:
        out.document(process)
    else:
        out.line(f"started process {process['pid']} in {args.id}")
    return EXIT_OK


def containers_kill(client: Client, args: argparse.Namespace, out: Output) -> int:
    if args.pid is None:
        answer: Any = client.kill(args.id, args.signal)
        target = args.id
    else:
        client.signal(args.id, args.pid, args.signal)
        answer, target = {}, f"process {args.pid} of {args.id}"
    if out.as_json:
        out.document(answer)
    else:
        name = f"signal {args.signal}" if isinstance(args.signal, int) else args.signal
        out.line(f"sent {name} to {target}")
    return EXIT_OK


def containers_pause(client: Client, args: argparse.Namespace, out: Output) -> int:
    return _show_update(client.pause(args.id), out)


def containers_resume(client: Client, args: argparse.Namespace, out: Output) -> int:
    return _show_update(client.resume(args.id), out)


def _show_update(container: Container, out: Output) -> int:
    if out.as_json:
        out.document(container)
    else:
        out.line(f"{container['id']} is {_status(container)}")
    return EXIT_OK


def containers_delete(client: Client, args: argparse.Namespace, out: Output) -> int:
    container = client.delete(args.id, timeout=args.timeout)
    if out.as_json:
        out.document(container)
    else:
        out.line(f"deleted {args.id}")
    return EXIT_OK


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(path) if path is not None else None


def checkpoints_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    checkpoints = client.checkpoints(args.id, bundle_path=_absolute(args.bundle))
    if out.as_json:
        out.document(checkpoints)
        return EXIT_OK
    rows = []
    for checkpoint in checkpoints:
        options = [
            key
            for key, on in (
                ("tcp", checkpoint["tcp"]),
                ("unix-sockets", checkpoint["unixSockets"]),
                ("shell", checkpoint["shell"]),
            )
            if on
        ]
        rows.append([checkpoint["name"], _ago(checkpoint["timestamp"]), ",".join(options) or "-"])
    out.table(("NAME", "CREATED", "OPTIONS"), rows)
    return EXIT_OK


def checkpoints_create(client: Client, args: argparse.Namespace, out: Output) -> int:
    checkpoint = client.create_checkpoint(
        args.id,
        args.name,
        exit=args.exit,
        tcp=args.tcp,
        unix_sockets=args.unix_sockets,
        shell=args.shell,
    )
    if out.as_json:
        out.document(checkpoint)
    else:
        then = " and stopped it" if args.exit else ""
        out.line(f"checkpointed {args.id} as {checkpoint['name']}{then}")
    return EXIT_OK


def checkpoints_delete(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.delete_checkpoint(args.id, args.name, bundle_path=_absolute(args.bundle))
    if out.as_json:
        out.document({})
    else:
        out.line(f"deleted checkpoint {args.name} of {args.id}")
    return EXIT_OK


def events(client: Client, args: argparse.Namespace, out: Output) -> int:
    seen = 0
    with client.events(since=args.since, container_id=args.id) as stream:
        for event in stream:
            if out.as_json:
                out.record(event)
            else:
                extra = "".join(
                    f" {key}={value}"
                    for key, value in (("pid", event.get("pid")), ("status", event.get("status")))
                    if value is not None
                )
                out.line(f"{event['timestamp']}  {event['type']:<15} {event['id']}{extra}")
                out.stdout.flush()
            seen += 1
            if seen == args.count:
                return EXIT_OK
    # The daemon ends event streams only when it shuts down.
    out.error(f"the daemon at {client.address} closed the event stream")
    return EXIT_UNREACHABLE


def logs(client: Client, args: argparse.Namespace, out: Output) -> int:
    with client.logs(args.id, follow=args.follow, tail=args.tail) as records:
        for record in records:
            if out.as_json:
                out.record(record)
                continue
            # The data is the line as the process wrote it, newline included (the last line of
            # a process that ended without one has none): write it as it is.
            stream = out.stderr if record["stream"] == "stderr" else out.stdout
            stream.write(record["data"])
            if args.follow:
                stream.flush()
    return EXIT_OK


def stats(client: Client, args: argparse.Namespace, out: Output) -> int:
    figures = client.stats(args.id)
    if out.as_json:
        out.document(figures)
        return EXIT_OK
    cpu = figures.get("cpu", {}).get("usage", {})
    memory = figures.get("memory", {}).get("usage", {})
    pids = figures.get("pids", {})
    rows = [["ID", args.id]]
    if cpu:
        total, user, system = (cpu.get(key, 0) / 1e9 for key in ("total", "user", "kernel"))
        rows.append(["CPU", f"{total:.3f}s (user {user:.3f}s, system {system:.3f}s)"])
    if memory:
        rows.append(
            [
                "MEMORY",
                f"{_size(memory.get('usage', 0))}"
                f" (max {_size(memory.get('max', 0))}, limit {_limit(memory)})",
            ]
        )
    if pids:
        rows.append(["PIDS", f"{pids.get('current', 0)} (limit {_limit(pids)})"])
    out.table(None, rows)
    return EXIT_OK


def _limit(figures: dict[str, Any]) -> str:
    limit = figures.get("limit", 0)
    # runc reports "no limit" as 0 (pids) or as the largest page-aligned int64 (memory).
    if not limit or limit >= 2**62:
        return "none"
    return str(limit) if "current" in figures else _size(limit)


def state(client: Client, args: argparse.Namespace, out: Output) -> int:
    answer = client.state()
    if out.as_json:
        out.document(answer)
        return EXIT_OK
    machine = answer["machine"]
    out.line(f"machine: {machine['cpus']} CPUs, {_size(machine['memory'])} memory")
    out.line()
    out.table(CONTAINER_HEADERS, _container_rows(answer["containers"]))
    return EXIT_OK


# --- bench: another module's command ------------------------------------------------------------


def _add_bench(parser: argparse.ArgumentParser, *, load: bool) -> None:
    """Let :mod:`.bench` define ``ctr-trio bench``; without it, the rest of the CLI still works.

    Imported here, not at the top, and only when ``load`` (the command line says bench): it
    brings Trio and the rest of the benchmark, a tenth of a second that no other command should
    pay; and a bench that cannot be imported (absent, or missing a dependency) must not take the
    other commands down with it.
    """
    if not load:
        # Then the command line cannot select bench; only its entry in --help is needed.
        return
    try:
        from . import bench
    except ImportError as exc:
        reason = str(exc)

        def unavailable(client: Client, args: argparse.Namespace, out: Output) -> int:
            out.error(f"bench is not available ({reason})")
            return EXIT_ERROR

        parser.set_defaults(handler=unavailable)
        return

    bench.add_arguments(parser)

    def run_bench(client: Client | None, args: argparse.Namespace, out: Output) -> int:
        # bench makes its own (async) connections, from args.address or a daemon of its own.
        return bench.run(args)

    parser.set_defaults(handler=run_bench)


# --- the parser ---------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse that writes help and usage errors to the given streams, not to ``sys.*``.

    So that :func:`run` keeps all of its output where its caller asked, even from a thread.
    Subcommand parsers made with :meth:`command` inherit the streams.
    """

    def __init__(
        self, *args: Any, stdout: TextIO | None = None, stderr: TextIO | None = None, **kwargs: Any
    ) -> None:
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
        json_flag: bool = True,
    ) -> Parser:
        parser = commands.add_parser(
            name, help=help, description=help, stdout=self.stdout, stderr=self.stderr
        )
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

    def print_help(self, file: Any = None) -> None:
        super().print_help(file or self.stdout)

    def print_usage(self, file: Any = None) -> None:
        super().print_usage(file or self.stdout)

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


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def _env(text: str) -> str:
    _pair(text)
    return text


def _user(text: str) -> tuple[int, int | None]:
    uid, sep, gid = text.partition(":")
    if not uid.isdigit() or (sep and not gid.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not UID or UID:GID (numbers)")
    return int(uid), int(gid) if sep else None


def _signal(text: str) -> int | str:
    # The daemon knows the names (TERM, SIGTERM) and checks the range: send what was written.
    return int(text) if text.isdigit() else text.upper()


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _positive_count(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more seconds")
    return value


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
        metavar="HOST:PORT|unix:PATH",
        help=f"the daemon's API (default: ${ENV_ADDRESS}, else {DEFAULT_ADDRESS})",
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
        " this long (default 15; 0: never)",
    )
    top.add_argument(
        "--tls-ca", metavar="FILE", help="with https://: the CA of the daemon's certificate"
    )
    top.add_argument(
        "--tls-cert", metavar="FILE", help="with https://: a client certificate (mutual TLS)"
    )
    top.add_argument("--tls-key", metavar="FILE", help="the key of --tls-cert")
    commands = top.commands("command")

    containers = top.command(
        commands, "containers", "list, start and manage containers", json_flag=False
    )
    actions = containers.commands("action")
    top.command(actions, "list", "list the containers", containers_list)
    get = top.command(actions, "get", "show one container", containers_get)
    get.add_argument("id", metavar="ID")

    start = top.command(actions, "start", "start a container from an OCI bundle", containers_start)
    start.add_argument("id", metavar="ID")
    start.add_argument("--bundle", required=True, metavar="DIR", help="the OCI bundle directory")
    start.add_argument(
        "--checkpoint", metavar="NAME", help="restore from this checkpoint in the bundle instead"
    )
    start.add_argument(
        "--label",
        type=_pair,
        action="append",
        default=[],
        metavar="K=V",
        help="a label to keep with the container (repeatable)",
    )

    exec_ = top.command(
        actions, "exec", "start another process in a running container", containers_exec
    )
    exec_.add_argument("id", metavar="ID")
    exec_.add_argument(
        "--env",
        type=_env,
        action="append",
        metavar="K=V",
        help="environment variable (repeatable; replaces the bundle's environment)",
    )
    exec_.add_argument("--cwd", metavar="DIR", help="working directory (default: the bundle's)")
    exec_.add_argument(
        "--user", type=_user, metavar="UID[:GID]", help="user and group ids (default: the bundle's)"
    )
    exec_.add_argument(
        "args", nargs="+", metavar="ARGS", help="the command and its arguments; put -- before them"
    )

    kill = top.command(
        actions, "kill", "send a signal to a container or one of its processes", containers_kill
    )
    kill.add_argument("id", metavar="ID")
    kill.add_argument(
        "--signal",
        type=_signal,
        default="SIGTERM",
        metavar="SIG",
        help="number or name (default SIGTERM)",
    )
    kill.add_argument(
        "--pid",
        type=_positive_count,
        metavar="PID",
        help="signal this process of the container instead of its init",
    )

    top.command(
        actions, "pause", "freeze all processes of a container", containers_pause
    ).add_argument("id", metavar="ID")
    top.command(actions, "resume", "thaw a paused container", containers_resume).add_argument(
        "id", metavar="ID"
    )

    delete = top.command(actions, "delete", "stop a container and remove it", containers_delete)
    delete.add_argument("id", metavar="ID")
    delete.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="grace between SIGTERM and SIGKILL (default: the daemon's, 10)",
    )

    checkpoints = top.command(
        commands, "checkpoints", "checkpoint containers with CRIU", json_flag=False
    )
    actions = checkpoints.commands("action")
    listing = top.command(
        actions, "list", "list a container's checkpoints, oldest first", checkpoints_list
    )
    listing.add_argument("id", metavar="ID")
    listing.add_argument("--bundle", help="the bundle, for a container the daemon does not list")
    create = top.command(actions, "create", "checkpoint a running container", checkpoints_create)
    create.add_argument("id", metavar="ID")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--exit", action="store_true", help="stop the container afterwards")
    create.add_argument("--tcp", action="store_true", help="keep established TCP connections")
    create.add_argument("--unix-sockets", action="store_true", help="allow external unix sockets")
    create.add_argument("--shell", action="store_true", help="allow a shell job")
    remove = top.command(actions, "delete", "delete a checkpoint", checkpoints_delete)
    remove.add_argument("id", metavar="ID")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--bundle", help="the bundle, for a container the daemon does not list")

    watch = top.command(
        commands, "events", "print events as they happen, until interrupted", events
    )
    watch.add_argument(
        "--since", metavar="RFC3339", help="replay past events from this time on first"
    )
    watch.add_argument("--id", help="only this container's events")
    watch.add_argument(
        "--count", type=_positive_count, metavar="N", help="stop after N events (for scripts)"
    )

    output = top.command(commands, "logs", "print a container's stdout and stderr", logs)
    output.add_argument("id", metavar="ID")
    output.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing until no process of the container can write more",
    )
    output.add_argument("--tail", type=_count, metavar="N", help="only the last N lines")

    top.command(commands, "stats", "show a container's cgroup figures", stats).add_argument(
        "id", metavar="ID"
    )
    top.command(commands, "state", "show the machine and all containers", state)

    # No --json of ours here: bench defines its own arguments.
    _add_bench(top.command(commands, "bench", "benchmark the daemon", json_flag=False), load=bench)
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
        args = build_parser(stdout, stderr, bench="bench" in argv).parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already explained on stderr
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(stdout, stderr, as_json=args.json)
    handler: Handler = args.handler
    if args.address is None:
        args.address = os.environ.get(ENV_ADDRESS) or None
    if args.command == "bench":
        return int(args.handler(None, args, out))  # it connects (or runs a daemon) itself
    if args.address is None:
        args.address = DEFAULT_ADDRESS
    from .http import ApiError, Client, ClientError, DaemonUnreachable

    try:
        # The client's own retry default unless --retry says otherwise.
        retry = {} if args.retry is None else {"retry_for": args.retry}
        with Client(
            args.address,
            **retry,
            on_retry=out.retrying,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ) as client:
            return handler(client, args, out)
    except ApiError as exc:
        out.error(exc.message)
        return EXIT_ERROR
    except DaemonUnreachable as exc:
        out.error(str(exc))
        return EXIT_UNREACHABLE
    except ClientError as exc:  # an answer, but not one the daemon would give
        out.error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        # Ctrl-C is how one leaves `events` and `logs -f`: not an error worth a traceback.
        return EXIT_INTERRUPTED


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
