"""What each ``ctr-trio`` command does: one handler per command, on :class:`~.http.Client`.

A handler takes the client, the parsed arguments and the :class:`~.output.Output`, and returns
the exit code. A handler that acts on several containers (``rm a b c``) goes on after one of them
fails, says why on stderr, and exits 1 at the end, as docker does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from . import output
from .errors import ApiError, ClientError, DaemonUnreachable, GaveUp, RunRefused
from .output import (
    CONTAINER_HEADERS,
    PROG,
    TOP_HEADERS,
    Output,
    ago,
    container_rows,
    describe_resources,
    limit,
    size,
    state_name,
    status,
    top_rows,
)

if TYPE_CHECKING:
    from .http import Client
    from .protocol import Request
    from .routes import CriuFlags
    from .template import Template
    from .types import Container, Exit, LogRecord, Resources, RestartPolicy, StartProcess

EXIT_OK = 0
EXIT_ERROR = 1  # the daemon said no (or its answer made no sense, or bench failed)
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 128 + 2  # SIGINT
#: run's exit when no container ran: the daemon refused it, or could not be reached (docker's).
EXIT_RUN_REFUSED = 125

Handler = Callable[["Client", argparse.Namespace, Output], int]
#: A check of a command's arguments that needs the daemon's word: the problem, a usage error.
DaemonCheck = Callable[["Client", argparse.Namespace], "str | None"]


def for_each(
    ids: Sequence[str], out: Output, act: Callable[[str], Any], *, missing_ok: bool = False
) -> int:
    """``act(id)`` for each id; a failure (the daemon's error, or a wait of ours given up) is
    said and the rest go on. Exit 1 if any failed; ``missing_ok``: an id the daemon does not
    know (404) is said but is no failure."""
    failed = False
    for container_id in ids:
        try:
            act(container_id)
        except (ApiError, GaveUp) as exc:
            out.error(str(exc))
            missing = isinstance(exc, ApiError) and exc.status == 404
            failed = failed or not (missing_ok and missing)
    return EXIT_ERROR if failed else EXIT_OK


# --- containers -------------------------------------------------------------------------------


def filter_parts(text: str, keys: Iterable[str]) -> list[str]:
    """The pairs of one ``-f``: ``status=running,label=a=b`` is two, split at each comma
    that a key and its ``=`` follow. docker's ``-f`` takes one pair, whole; ours takes several
    (as the 2015 ctr's did), and split at every comma they left a value with one unsaid:
    ``label=x=a,b`` (a label docker's ``-l`` takes), ``name=x{1,3}``. A comma followed by
    anything else is the value's; a part with no key is still an error that names it."""
    pattern = "|".join(re.escape(key) for key in keys)
    return re.split(rf",(?=(?:{pattern})=)", text)


def parse_filter(text: str) -> list[tuple[str, str]]:
    """``status=running,label=a=b`` as ``[("status", "running"), ("label", "a=b")]``."""
    pairs = []
    for part in filter_parts(text, FILTERS):
        key, sep, value = part.partition("=")
        if not sep or key not in FILTERS:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not KEY=VALUE with KEY one of {', '.join(FILTERS)}"
            )
        if key == "status":
            # docker's word for a container whose init exited is the daemon's "stopped".
            value = DOCKER_STATUSES.get(value, value)
            # A status no container has matched none: ps printed an empty table, as if no
            # container were in it.
            if value not in STATUSES and value != RESTARTING:
                names = [*STATUSES, RESTARTING, *DOCKER_STATUSES]
                raise argparse.ArgumentTypeError(f"{part!r}: a status is one of {', '.join(names)}")
        elif key == "exited" and not (value.isascii() and value.isdigit()):
            raise argparse.ArgumentTypeError(f"{part!r}: an exit status is a number, 0 to 255")
        elif key == "name":
            try:
                re.compile(value)
            except re.error as exc:
                # docker's daemon skips a pattern it cannot compile, and so lists nothing
                # for it (but a name written as it is): no name here is such a text.
                raise argparse.ArgumentTypeError(
                    f"{part!r}: a name filter is a regular expression, and this one is not: {exc}"
                ) from None
        pairs.append((key, value))
    return pairs


def _has_name(container: Container, pattern: str) -> bool:
    """docker's ``name=``: a regular expression found anywhere in the name (moby's
    filters.Match: ``name=web`` is a part of it, ``name=^web$`` the name whole), the name as
    docker's daemon keeps it, ``/web``, or without its slash, so that docker's idiom
    ``name=^/web$`` finds ``web`` too. The id is the container's name here."""
    name = container["id"]
    return any(re.search(pattern, text) for text in (name, "/" + name))


def _has_label(container: Container, wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    labels = container.get("labels") or {}
    return key in labels and (not sep or labels[key] == value)


#: The values of a container's state.status (the daemon's model.Status, not imported: the
#: client loads nothing of the daemon).
STATUSES = ("created", "running", "paused", "stopped")
#: docker's status of a stopped container whose restart policy waits out its delay (the
#: daemon's state.restarting: output.state_name), which status=stopped (and exited) leaves
#: out, as docker's exited does.
RESTARTING = "restarting"
#: docker's names of those statuses where they differ: what ``docker ps -f status=exited``
#: lists is what the daemon calls stopped.
DOCKER_STATUSES = {"exited": "stopped"}


def _exited_with(container: Container, value: str) -> bool:
    """docker's ``exited=N``: stopped, its init's exit status N (not restarting: docker's
    counts a restarting container as running)."""
    state = container["state"]
    exit_status = str(state.get("exitStatus"))
    return state_name(container) == "stopped" and exit_status == str(int(value))


FILTERS: dict[str, Callable[[Container, str], bool]] = {
    "status": lambda c, value: state_name(c) == value,
    "label": _has_label,
    "id": lambda c, value: c["id"].startswith(value),
    "name": _has_name,
    "exited": _exited_with,
}


def select(containers: Iterable[Container], filters: Sequence[tuple[str, str]]) -> list[Container]:
    """Those that pass every filter key; values of one key are alternatives (as docker's)."""
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        by_key.setdefault(key, []).append(value)
    return [
        c
        for c in containers
        if all(any(FILTERS[key](c, value) for value in values) for key, values in by_key.items())
    ]


#: What ``docker ps`` lists without ``-a``: the containers docker calls running (its paused
#: and restarting ones are running too), not the created and stopped ones.
LIVE_STATUSES = ("running", "paused", RESTARTING)


#: docker's ps's warning where -q and --format are both given: -q wins.
QUIET_OVER_FORMAT = "WARNING: Ignoring custom format, because both --format and --quiet are set."


def containers_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    filters = [pair for pairs in args.filter for pair in pairs]
    # docker's -n/--last and -l/--latest: the newest of those listed (the daemon lists the
    # oldest first), in the list's order; -n 0 is docker's "no limit".
    last = 1 if args.latest else args.last
    containers = client.containers()
    # docker ps: the live ones, unless -a (containers list's default: the 2015 ctr's listed
    # all), -n/-l ("includes all states") or a status filter (docker's daemon takes one as -a:
    # ps -f status=exited lists the exited). Not exited=N: docker's daemon keeps its rule
    # there, and ps -f exited=0 lists nothing without -a (moby's daemon/list.go).
    if not (args.all or last or any(key == "status" for key, _ in filters)):
        containers = [c for c in containers if state_name(c) in LIVE_STATUSES]
    containers = select(containers, filters)
    if last:
        containers = containers[-last:]
    form: str | output.RowTemplate
    form = "ids" if args.quiet else args.format or ("json" if out.as_json else "table")
    if args.quiet and args.format not in (None, "ids"):
        # docker's ps since 25 (docker/cli's runPs): -q wins over any --format, table and json
        # too, and says so, in its words, which scripts that meet it know; ours said nothing.
        out.stderr.write(QUIET_OVER_FORMAT + "\n")
    if form == "json" and args.format == "json":
        # docker's ps --format json: {{json .}} of each container, a line each (docker/cli's
        # formatter reads "json" so); --json prints the daemon's documents, in one array.
        form = output.RowTemplate(
            output.JSON_ROW, headings=output.PS_HEADINGS, methods=output.PS_METHODS
        )
    if isinstance(form, output.RowTemplate):  # read with the command line
        if args.no_trunc:
            form = form.on(output.NO_TRUNC_FIELDS)
        return _list_templated(containers, form, out)
    if form == "json":
        out.document(containers)
    elif form == "table":
        out.table(CONTAINER_HEADERS, container_rows(containers))
    elif form == "ids":
        for container in containers:
            out.line(container["id"])
    return EXIT_OK


def _list_templated(containers: Iterable[Container], form: output.RowTemplate, out: Output) -> int:
    """A line per container, or docker's table; a container the template does not fit is its
    error, the others printed, as inspect's."""
    lines, misfits = form.lines(containers, lambda container: container["id"])
    for line in lines:
        out.line(line)
    for misfit in misfits:
        out.error(misfit)
    return EXIT_ERROR if misfits else EXIT_OK


def containers_get(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Each container's fields and processes, a blank line between two; with ``--json`` their
    documents, as :func:`each_container` prints them (one for one id)."""
    shown = False

    def get(container_id: str) -> Container:
        nonlocal shown
        container = client.container(container_id)
        if not out.as_json:
            if shown:
                out.line()
            _describe(container, out)
            shown = True
        return container

    return each_container(args.ids, out, get, None)


def containers_inspect(client: Client, args: argparse.Namespace, out: Output) -> int:
    """docker's ``inspect``: the containers' documents in one array, whatever the number of
    ids (``[]`` if none was found), so that ``jq '.[0]'`` works for one as for several; an
    unknown id is its error on stderr, and exit 1. ``--format json``: that array on one line,
    as docker's; ``--format TEMPLATE``: a line per container found (:mod:`.template`)."""
    if args.format is None:
        return each_container(args.ids, out, client.container, None, single=False)
    from .template import RenderError, compact

    if args.format == "json":
        found: list[Container] = []
        code = for_each(
            args.ids, out, lambda container_id: found.append(client.container(container_id))
        )
        out.line(compact(found))  # as {{json .}} prints each
        return code

    misfit = False

    def one(container_id: str) -> None:
        nonlocal misfit
        container = client.container(container_id)
        try:
            out.line(args.format.render(container))
        except RenderError as exc:  # this container's, as an unknown id's: the others go on
            out.error(f"{container_id}: {exc}")
            misfit = True

    code = for_each(args.ids, out, one)
    return EXIT_ERROR if misfit else code


def _describe(container: Container, out: Output) -> None:
    labels = container.get("labels") or {}
    state = container["state"]
    fields = [
        ("ID", container["id"]),
        ("STATUS", status(container)),
        ("BUNDLE", container["bundlePath"]),
        ("CREATED", _moment(container["createdAt"])),
    ]
    # The run's start (docker's State.StartedAt: a restart's own) and, stopped, its end.
    if "startedAt" in state:  # an older daemon gives none
        fields.append(("STARTED", _moment(state["startedAt"])))
    if "finishedAt" in state:  # none while it runs, nor for an exit no daemon saw
        fields.append(("FINISHED", _moment(state["finishedAt"])))
    if state.get("oomKilled"):  # docker inspect's State.OOMKilled, where its 137 came from
        fields.append(("OOMKILLED", "true (the kernel killed a process of this run for memory)"))
    fields += [
        ("LABELS", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"),
        ("LIMITS", describe_resources(container.get("resources") or {})),
    ]
    if (policy := container.get("restartPolicy")) is not None:
        count = container.get("restartCount", 0)
        times = "time" if count == 1 else "times"
        fields.append(("RESTART", f"{describe_restart(policy)}, restarted {count} {times}"))
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


def _moment(stamp: str) -> str:
    """``2026-12-02T22:54:34.502831886+00:00 (3 seconds ago)``."""
    return f"{stamp} ({ago(stamp)})"


def containers_start(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``start``: with ``-b``, a container from its bundle, as :func:`containers_run` (``-a``,
    ``-i``, ``-t`` to stay attached); ``ID...`` alone, docker's start: each stopped container
    again (:func:`start_again`), its id printed as given, as ``stop`` prints it."""
    if args.bundle is None and args.checkpoint is not None:
        # docker's start --checkpoint NAME ID (the parser's: one ID, no other start option):
        # the stopped container restored from its own bundle, as the daemon lists it; a
        # container it does not list is its 404, which says so.
        [args.id] = args.ids
        args.bundle = client.container(args.id)["bundlePath"]
        return containers_run(client, args, out)
    if args.bundle is None and (args.attach or args.interactive):
        [container_id] = args.ids  # the parser's: -a and -i take one
        return start_attached(client, args, out, container_id)
    if args.bundle is None:
        return each_container(
            args.ids, out, lambda container_id: start_again(client, container_id), _as_given
        )
    return containers_run(client, args, out)  # args.id, args.args: the parser's (one ID)


def start_attached(client: Client, args: argparse.Namespace, out: Output, container_id: str) -> int:
    """docker's ``start -a ID``: the stopped container started again (:func:`start_again`),
    and its output here from the run's start (its init's records alone: the log, which goes
    on across runs, keeps those of the runs before) until its init
    exits, whose status is ours, as ``run``'s session (:func:`_attach`). One running already
    is left running and attached to from now on, as docker's start -a attaches to it; a
    paused one is the daemon's 409; a restarting one has no process yet: said, as ``attach``
    says it. With ``-i`` (docker's ``start -ai``), our input goes to the init's stdin, if its
    start kept it open (``stdin``, run -i: the daemon's record keeps it, and the start again
    opens it again), as docker's start -i attaches its stdin only where the container's
    OpenStdin says so: the API gives a started-again init the stdin its first start asked
    for, no other."""
    if (
        args.interactive
        and not _stdin_is_terminal()
        and _input_goes_to_a_terminal(client.container(container_id))
    ):
        # Its terminal would take our script's bytes as keys typed (a Ctrl-C, a Ctrl-D among
        # them): refused before the start, as docker's start -ai ("the input device is not a
        # TTY"), and run -it, exec -it and attach here.
        out.error("the input is not a terminal: leave out -i, or run this from a terminal")
        return EXIT_ERROR
    container, started = _started_again(client, container_id)
    processes = container["processes"]
    if not processes:
        state = state_name(container)
        then = "; wait until it is running" if state == RESTARTING else ""
        out.error(f"container {container_id} is {state}: it has no process to attach to{then}")
        return EXIT_ERROR
    init = processes[0]
    return _attach(
        client, args, out, container_id, init["pid"],
        # The container's stdin (docker's OpenStdin), not the init's: a terminal takes input
        # too, and docker's start -ai of a container run -t without -i sends it none.
        stdin=args.interactive and bool(container.get("stdin")), tty=init["terminal"],
        logs=started, proxy_signals=args.sig_proxy,
        # The session that started it closes its stdin at our input's end, as docker's start
        # -ai of a container its create -i made StdinOnce; one that was running already is
        # attached to, as by attach: its stdin is left open, unless the container is
        # StdinOnce (run -i attached), whose stdin any session's input's end closes.
        stdin_once=started or bool(container.get("stdinOnce")),
    )  # fmt: skip


def _input_goes_to_a_terminal(container: Container) -> bool:
    """Whether ``start -ai``'s input would go to a terminal: the container's stdin is kept
    open (its start's ``stdin``, docker's OpenStdin) and its init has a terminal (the daemon's
    ``terminal``, as docker's Config.Tty: the running init's, or the last run's for a stopped
    one, which a start again runs again unless its bundle was changed since)."""
    return bool(container.get("stdin")) and bool(container.get("terminal"))


def start_again(client: Client, container_id: str) -> Container:
    """Start a stopped container again as the daemon holds it (``POST
    /containers/{id}/start``: the daemon reads its record and starts it under its lock, so an
    update that comes meanwhile is not undone by a body read before it); a running or
    restarting one is left as it is (docker's start of a running container does nothing, and
    succeeds; its restarting ones are running): the daemon's 409, then the container as it is
    now. A paused one is the daemon's 409 (``it is paused; resume it first``), as docker's
    daemon refuses it (moby's ContainerStart checks Paused before Running: "cannot start a
    paused container, try unpause instead"); so is a stopped one (the 409 was another: being
    deleted, say)."""
    container, _ = _started_again(client, container_id)
    return container


def _started_again(client: Client, container_id: str) -> tuple[Container, bool]:
    """:func:`start_again`'s container, and whether this call started it (False: it ran
    already, or was restarting). One rule for ``start ID`` and ``start -a ID``
    (:func:`start_attached`, which shows the output from the run's start only for a run it
    started): which 409 means "running already" is said once."""
    try:
        return client.start_again(container_id), True
    except ApiError as exc:
        if exc.status != 409:
            raise
        container = client.container(container_id)
        if state_name(container) in ("stopped", "paused"):
            # Paused: the daemon's "resume it first", as docker's start refuses one. Stopped:
            # another 409 (being deleted, say), in the daemon's words.
            raise
        return container, False


def _start_as(client: Client, container: Container, *, stdin: bool = False) -> Container:
    """Start ``container``'s id afresh with what its start took that the daemon's record of it
    holds, as :func:`start_again` does, from a record read before: :func:`restart` of a
    container with autoRemove, which has no record left to start from once stopped. Its
    bundle, its labels, its autoRemove, its stdin kept open (docker's -i), the limits in force
    when it stopped (an update's too, as docker keeps them), and the process its start ran
    instead of the bundle's (docker keeps a container's command): the start replaces a stopped
    container of the id, and its log with it. Not a checkpoint: a restart starts from the
    bundle. ``stdin``: keep it open whatever the record says. Its stdinOnce too (docker's
    StdinOnce, its config, which docker's restart keeps: run -i --rm attached gives it), and
    its stopSignal and stopTimeout (docker's StopSignal and StopTimeout, its config too)."""
    return client.start(
        container["id"], container["bundlePath"], labels=container.get("labels") or {},
        stdin=stdin or bool(container.get("stdin")), auto_remove=bool(container.get("autoRemove")),
        stdin_once=bool(container.get("stdinOnce")),
        stop_signal=container.get("stopSignal"), stop_timeout=container.get("stopTimeout"),
        resources=container.get("resources") or None, process=container.get("process"),
        restart_policy=container.get("restartPolicy"),
    )  # fmt: skip


def containers_run(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``run`` (attached unless ``-d``), and ``start -b`` (``-a``, ``-i``, ``-t`` to stay
    attached)."""
    # The daemon needs an absolute path; a relative one means "from here", as for any command.
    bundle = os.path.abspath(args.bundle)
    attached = (
        not args.detach if args.attach_default else args.attach or args.interactive or args.tty
    )
    if attached and args.tty and args.interactive and not _stdin_is_terminal():
        out.error("the input is not a terminal: leave out -t, or run this from a terminal")
        return EXIT_ERROR
    # --rm: the daemon removes a container it was asked to remove at its exit. Not one we
    # attach to: a quick process would be gone, its log with it, before the attach came; that
    # one we hand to the daemon once attached (_attach), its removal waiting for our session.
    auto_remove = args.rm and not attached
    resources = resource_change(args) or None  # the daemon says if --checkpoint can take them
    # docker's run -i without -d makes the container StdinOnce: the end of any attach's input
    # closes its stdin, this session's and a later attach's (start -b -i is docker's create
    # and start, which does not).
    stdin_once = args.attach_default and attached and args.interactive
    try:
        if args.checkpoint is None:
            container = client.start(
                args.id, bundle, labels=dict(args.label), stdin=args.interactive,
                stdin_once=stdin_once, auto_remove=auto_remove, resources=resources,
                process=start_process(args, bundle), stop_signal=args.stop_signal,
                stop_timeout=args.stop_timeout,
                restart_policy=args.restart,
            )  # fmt: skip
        else:
            from . import routes

            request = routes.start(
                args.id,
                bundle,
                checkpoint=args.checkpoint,
                labels=dict(args.label),
                timeout=args.timeout,
                stdin=args.interactive,
                stdin_once=stdin_once,
                stop_signal=args.stop_signal,
                stop_timeout=args.stop_timeout,
                auto_remove=auto_remove,
                resources=resources,
                restart_policy=args.restart,
            )
            restoring = f"the restore of {args.id} from {args.checkpoint}"
            with _going_on(out, restoring, args):
                container = _following(client, args, out, request, "restore", args.timeout)
    except ApiError as exc:
        if not args.attach_default:  # start -b: docker's start exits 1 for a refusal
            raise
        raise RunRefused(exc.status, exc.message) from exc  # run: 125, as docker's run
    except DaemonUnreachable as exc:
        # run: no daemon to start the container is 125 too, as docker's run (its
        # "Cannot connect to the Docker daemon"): 3 was the process's exit 3 to a script. A
        # start sent whose connection then broke may have run, and stays 3 (its restore's
        # words say so).
        if not args.attach_default or exc.lost:
            raise
        out.error(exc.for_user())
        return EXIT_RUN_REFUSED
    init = container["processes"][0]
    if not attached:
        if out.as_json:
            out.document(container)
        else:
            how = f" from checkpoint {args.checkpoint}" if args.checkpoint else ""
            out.line(f"started {container['id']}{how} (pid {init['pid']})")
        return EXIT_OK
    return _attach(
        client, args, out, args.id, init["pid"],
        # -t alone forwards keystrokes, where there are any: from a script's input (or
        # /dev/null) its bytes would be typed into the terminal, and its end would end the
        # session (a terminal's input is never closed by ours) before the process's.
        stdin=args.interactive or (args.tty and init["terminal"] and _stdin_is_terminal()),
        tty=init["terminal"],
        logs=True,
        proxy_signals=args.sig_proxy,
        remove=args.rm,
        stdin_once=True,  # docker's run -i without -d: StdinOnce
    )  # fmt: skip


def start_process(args: argparse.Namespace, bundle: str) -> StartProcess | None:
    """What ``run`` and ``start -b`` run instead of the bundle's process (the command after
    the ID, ``-e``, ``-w``, ``-u``; a terminal for ``-t`` if the bundle's process has none),
    as the daemon lays it over the bundle's; None for the bundle's own."""
    from . import routes

    process: StartProcess = {}
    if args.args:
        process["args"] = list(args.args)
    # Laid over the bundle's by the daemon. -e K where we have no K (the parser left it bare):
    # docker leaves K out, and so does this; its daemon takes K out of the image's environment
    # too, where a start's env takes nothing out of the bundle's (its own K stays).
    if env := [entry for entry in args.env or [] if "=" in entry]:
        process["env"] = env
    if args.cwd is not None:
        process["cwd"] = args.cwd
    if args.user is not None:
        process["user"] = routes.user(*args.user)
    # Not asked where the bundle has one already: that start runs from the bundle itself.
    if args.tty and not _bundle_terminal(bundle):
        process["terminal"] = True
    # Our window's size from the init's first instruction, as docker run -it's: the session's
    # resize comes only once it is attached, and a program that reads its size at once (stty
    # size, a shell's first prompt, top) would see 0x0 or the bundle's consoleSize.
    if args.tty and (size := _terminal_size()) is not None:
        from .routes import console_size

        process["consoleSize"] = console_size(size)
    return process or None


def containers_exec(client: Client, args: argparse.Namespace, out: Output) -> int:
    """As ``docker exec``: attached (its output here, its exit status ours), or with ``-d``
    started and left; ``-e`` adds to the container's environment."""
    uid, gid = args.user if args.user is not None else (None, None)
    env = None
    if args.env:
        from ..environment import merge_env

        # The API's env replaces the environment: send the container's, with ours added.
        processes = client.container(args.id)["processes"]
        env = merge_env(processes[0]["env"] if processes else [], args.env)
    if args.tty and args.interactive and not args.detach and not _stdin_is_terminal():
        out.error("the input is not a terminal: leave out -t, or run this from a terminal")
        return EXIT_ERROR
    size = _terminal_size() if args.tty else None
    process = client.exec(
        args.id, args.args, env=env, cwd=args.cwd, uid=uid, gid=gid,
        terminal=args.tty, console_size=size, stdin=args.interactive,
    )  # fmt: skip
    if args.detach:
        if out.as_json:
            out.document(process)
        else:
            out.line(f"started process {process['pid']} in {args.id}")
        return EXIT_OK
    return _attach(
        client, args, out, args.id, process["pid"],
        stdin=args.interactive, tty=args.tty, logs=True, stdin_once=True,  # docker's exec -i
    )  # fmt: skip


def containers_attach(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Attach to the init (or ``--pid``): its terminal if it has one, its input if it takes
    any (unless ``--no-stdin``)."""
    container = client.container(args.id)
    processes = container["processes"]
    pid = args.pid or (processes[0]["pid"] if processes else None)
    process = next((p for p in processes if p["pid"] == pid), None)
    if pid is None:
        # A restarting one (its restart's delay, or its own start) has a run to come: said,
        # as docker's "You cannot attach to a restarting container, wait until it is
        # running" (before, it was "stopped", as of one that stays so).
        state = state_name(container)
        then = "; wait until it is running" if state == RESTARTING else ""
        out.error(f"container {args.id} is {state}: it has no process to attach to{then}")
        return EXIT_ERROR
    if state_name(container) == "paused":
        # As docker's attach ("You cannot attach to a paused container, unpause it first")
        # and our start -a: a session would show nothing and take input nowhere until then.
        # (A session attached before the pause goes on, as docker's does.)
        out.error(f"container {args.id} is paused: resume (unpause) it first")
        return EXIT_ERROR
    # A process that ended already: its output (with --logs) and its status.
    terminal = bool(process and process["terminal"])
    takes_input = bool(process and process.get("stdin"))
    if terminal and takes_input and not args.no_stdin and not _stdin_is_terminal():
        # Our input would go to the process's terminal, which would take a script's bytes as
        # keys typed (a Ctrl-C, a Ctrl-D among them: a shell reading one exits, and with it
        # the container if it is the init). As exec -it and run -it refuse (and docker attach).
        out.error("the input is not a terminal: add --no-stdin, or run this from a terminal")
        return EXIT_ERROR
    return _attach(
        client, args, out, args.id, pid,
        stdin=takes_input and not args.no_stdin, tty=terminal, logs=args.logs,
        proxy_signals=args.sig_proxy,
        # Not the session that began it: our input's end ends ours, the stdin left open for
        # the next attach, as docker's attach to a container run -di; but the init's of a
        # container that is StdinOnce (run -i attached) is closed, as docker's attach does.
        stdin_once=bool(container.get("stdinOnce") and processes and pid == processes[0]["pid"]),
    )  # fmt: skip


def containers_wait(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Print each container's exit status once it exited, as ``docker wait``: a line each, in
    the order given (one after the other); or, for ``ID PID``, that process's. One that moved
    to another daemon: ``moved to ADDRESS`` in place of its copy's status here."""
    return each_container(
        args.ids,
        out,
        lambda container_id: client.wait(container_id, args.pid, condition=args.condition),
        _exit_status,
    )


def _exit_status(ended: Exit, _: str) -> str:
    if ended.get("moved"):
        # Not an exit: the container runs on at another daemon (a migration), its copy here
        # killed (137), which docker's wait, knowing no migration, has no word for.
        to = ended.get("movedTo")
        return "moved" if to is None else f"moved to {to}"
    return str(ended["exitStatus"])


#: How long a restart, or run --rm once the process ended, waits for the daemon to remove a
#: container with autoRemove once it stopped: milliseconds, unless an attached session holds
#: the removal (while it is sent the rest of the output, and up to 5 s after it stalls:
#: docs/api.md, autoRemove).
REMOVAL_WAIT = 10.0


def _attach(
    client: Client,
    args: argparse.Namespace,
    out: Output,
    container_id: str,
    pid: int,
    *,
    stdin: bool,
    tty: bool,
    logs: bool,
    proxy_signals: bool = False,
    remove: bool = False,
    stdin_once: bool = False,
) -> int:
    """An attached session to the process; its exit status (0 once detached). With
    ``remove`` (run --rm), the container is handed to the daemon (autoRemove) as soon as the
    session is made: the daemon removes it at the process's exit once our session has all of
    its output, or at once if we are gone (killed, even with SIGKILL). If that could not be
    sent, it is once the session is left, as a best effort (a detach, a signal that ended us,
    a session that failed): every signal that would end us ends the session first, for that
    (Ctrl-C or a SIGTERM with --sig-proxy=false, a SIGTERM to -t without raw mode). A
    session that ended with the process returns once the container is gone (its exit
    remembered for a later ``wait``): its id is free; :class:`GaveUp` if it was not removed
    within :data:`REMOVAL_WAIT`. ``stdin_once``: the end of our input closes the process's
    stdin (docker's StdinOnce), else it ends the session, the stdin left open
    (:mod:`.interactive`)."""
    from .interactive import DEFAULT_DETACH_KEYS, Session, parse_detach_keys

    # --detach-keys, else $CTR_TRIO_DETACH_KEYS: read with the command line (cli.run), before
    # the start or the exec this session is made for.
    keys = args.detach_keys
    if keys is None:
        keys = parse_detach_keys(DEFAULT_DETACH_KEYS)
    handed = False

    def hand_over() -> None:
        # Not before the session is made: a process that ended at once would be removed, its
        # output with it, before we came. Once it is, the daemon's removal waits for it.
        nonlocal handed
        with contextlib.suppress(ClientError):  # sent again once the session is left
            client.set_auto_remove(container_id)
            handed = True

    session = Session(
        client, container_id, pid, out,
        stdin=stdin, tty=tty, logs=logs, detach_keys=keys, proxy_signals=proxy_signals,
        end_on_signals=remove, on_attached=hand_over if remove else None, stdin_once=stdin_once,
    )  # fmt: skip
    if not remove:
        return session.run()
    try:
        status = session.run()
    except BaseException:
        # Best effort, the session's own error going on: what is left of it is the daemon's.
        if not handed:
            with contextlib.suppress(ClientError):
                client.set_auto_remove(container_id)
        raise
    try:
        if not handed:
            client.set_auto_remove(container_id)
        # It ended: so that its id is free once we are. Within REMOVAL_WAIT, as restart's
        # wait: another attached session that stopped reading holds the removal.
        if session.status is not None and (
            client.wait_within(container_id, REMOVAL_WAIT, condition="removed") is None
        ):
            raise GaveUp(
                f"container {container_id!r} exited (status {status}), but the daemon had not"
                f" removed it (autoRemove) {REMOVAL_WAIT:g} s later: an attached session holds"
                " its removal while it is sent output; its id is not free until then"
            )
    except ApiError as exc:
        if exc.status != 404:  # removed already
            raise
    return status


def _bundle_terminal(bundle: str) -> bool | None:
    """The bundle's process.terminal, if its config.json can be read here (the daemon may be
    on another machine: then None, and the daemon's answer tells)."""
    import json

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as config:
            return bool(json.load(config)["process"].get("terminal"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _stdin_is_terminal() -> bool:
    return os.isatty(0)


def _terminal_size() -> tuple[int, int] | None:
    return output.window_size()


#: What an action on a container answers: the container, or how it ended (stop).
Answer = TypeVar("Answer")


def each_container(
    ids: Sequence[str],
    out: Output,
    act: Callable[[str], Answer],
    sentence: Callable[[Answer, str], str] | None,
    *,
    single: bool | None = None,
    missing_ok: bool = False,
) -> int:
    """``act`` on each container, a sentence for each (or with ``--json`` their documents: one
    for one id, an array of those that succeeded for several), an error line for each failure;
    exit 1 if any failed. One id that failed prints nothing on stdout, as docker's: ``[]``
    there would be an array where one id's answer is an object. No ``sentence``: ``act``
    prints what it has to say itself."""
    answers: list[Answer] = []

    def one(container_id: str) -> None:
        answer = act(container_id)
        answers.append(answer)
        if not out.as_json and sentence is not None:
            out.line(sentence(answer, container_id))

    code = for_each(ids, out, one, missing_ok=missing_ok)
    if out.as_json:
        single = len(ids) == 1 if single is None else single
        if not single:
            out.document(answers)
        elif answers:
            out.document(answers[0])
    return code


#: How many containers a ``stop`` or ``rm`` of several acts on at once: docker's CLI's (the 50
#: of its parallelOperation).
AT_ONCE = 50


def at_once(
    client: Client, ids: Sequence[str], act: Callable[[Client, str], Answer]
) -> Callable[[str], Answer]:
    """``act`` on every id at once (up to :data:`AT_ONCE` of them, each on a client of its
    own), as docker's CLI stops and removes several containers: each one's grace runs beside
    the others', where one after the other ``stop -t 10 a b c`` of containers that ignore
    their stop signal took 30 s (docker's takes 10). What it returns gives each id's answer, or
    raises its failure, once that one is done, called for the ids in the order given (as
    :func:`for_each` calls it): so each is said in its turn, as docker's prints them. One id
    is acted on in this thread, as before.

    The workers are daemon threads: a Ctrl-C leaves ``ctr-trio`` at once, as for one id, the
    daemon going on with what it was asked."""
    if len(ids) < 2:
        return lambda container_id: act(client, container_id)
    import threading  # only here: a call of one id imports nothing it does not use

    done = [threading.Event() for _ in ids]
    outcomes: list[tuple[Any, BaseException | None]] = [(None, None)] * len(ids)
    untaken = iter(range(len(ids)))
    taking = threading.Lock()

    def work() -> None:
        with client.twin() as twin:
            while True:
                with taking:
                    position = next(untaken, None)
                if position is None:
                    return
                try:
                    outcomes[position] = (act(twin, ids[position]), None)
                except BaseException as exc:  # raised in its turn, by answer() below
                    outcomes[position] = (None, exc)
                done[position].set()

    for _ in range(min(AT_ONCE, len(ids))):
        threading.Thread(target=work, daemon=True).start()
    turns = iter(range(len(ids)))

    def answer(container_id: str) -> Answer:
        position = next(turns)
        done[position].wait()
        acted, failure = outcomes[position]
        if failure is not None:
            raise failure
        return cast(Answer, acted)

    return answer


def containers_kill(client: Client, args: argparse.Namespace, out: Output) -> int:
    name = f"signal {args.signal}" if isinstance(args.signal, int) else args.signal
    if args.pid is None:
        return each_container(
            args.ids,
            out,
            lambda container_id: client.kill(container_id, args.signal),
            lambda _, container_id: f"sent {name} to {container_id}",
        )
    [container_id] = args.ids  # the parser allows one only with --pid
    client.signal(container_id, args.pid, args.signal)
    if out.as_json:
        out.document({})
    else:
        out.line(f"sent {name} to process {args.pid} of {container_id}")
    return EXIT_OK


#: docker stop's grace between the signal and SIGKILL, when the container names none (its
#: start's stopTimeout, docker's StopTimeout): the daemon's DEFAULT_STOP_TIMEOUT (in
#: ..signals), written again here, as the help of every call shows it and a call imports
#: nothing it does not use (tests/test_cli.py keeps the two equal).
STOP_TIMEOUT = 10


def stop(
    client: Client, container_id: str, signal: int | str | None, timeout: float | None
) -> Container | None:
    """Stop one container as ``docker stop`` does, by the daemon (``POST
    /containers/{id}/stop``, one request): ``signal`` to its init, up to ``timeout`` seconds
    for the exit (negative, docker's ``-t -1``: no end, and no SIGKILL), then SIGKILL; either
    None: the container's own (its stopSignal, else SIGTERM; its stopTimeout, else
    :data:`STOP_TIMEOUT`). The daemon resumes a paused one to take the signal, and the exit is
    its user's whatever the signal: its restart policy does not restart it. The container as
    it ended; it stays, stopped. One stopped already is no failure (docker's 304, the daemon's
    409): None. One whose init the kernel holds past its SIGKILL (the daemon's 504):
    :class:`GaveUp`, it runs on."""
    try:
        return client.stop(container_id, signal=signal, timeout=timeout)
    except ApiError as exc:
        if exc.status == 504:
            raise GaveUp(
                f"{exc.message}; it runs on, the SIGKILL pending ({PROG} wait {container_id}"
                " tells its end)"
            ) from None
        if exc.status != 409:  # not found, say
            raise
        # Stopped already, unless the 409 was another (being deleted, say).
        if state_name(client.container(container_id)) != "stopped":
            raise
        return None


def _as_given(_: object, container_id: str) -> str:
    return container_id


def containers_stop(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``docker stop``: each id as given once stopped (several at once, as docker's:
    :func:`at_once`); with ``--json``, how each ended (its wait, answered at once: its exit,
    with its init's pid, which the stopped container's view no longer lists)."""

    def one(client: Client, container_id: str) -> Exit | None:
        stop(client, container_id, args.signal, args.timeout)
        return client.wait(container_id) if out.as_json else None

    return each_container(args.ids, out, at_once(client, args.ids, one), _as_given)


def restart(
    client: Client, container_id: str, signal: int | str | None, timeout: float | None
) -> Container:
    """``docker restart`` of one container: :func:`stop`, then started again by the daemon
    from its record, as :func:`start_again` starts it (a change of limits made meanwhile
    kept); a stopped one is just started, and a restarting one too, its restart called off by
    the stop (before, a start of the id did that). A container with autoRemove is
    gone once stopped, its record with it: it is started again from what was read before the
    stop (autoRemove kept, as docker's restart keeps --rm), once the daemon removed it, not
    while it does; :class:`GaveUp` if it was not removed within :data:`REMOVAL_WAIT`."""
    container = client.container(container_id)
    # Started again as start ID starts it: one that another command started meanwhile (a
    # second restart of the id at once) is left running, and this restart succeeds, as
    # docker's, whose start of a running container in its restart does nothing. Before, that
    # was the daemon's 409, "cannot start container 'web': it is running already", exit 1.
    if state_name(container) == "stopped":
        return start_again(client, container_id)
    stop(client, container_id, signal, timeout)
    if not container.get("autoRemove"):
        return start_again(client, container_id)
    # The record says the init's stdin was kept open (its "stdin"); a daemon before it did
    # not, and only the running init's listing shows it (a terminal's stdin is the
    # terminal's, which the bundle gives again).
    init = container["processes"][0] if container["processes"] else None
    stdin = bool(init and init["stdin"] and not init["terminal"])
    if client.wait_within(container_id, REMOVAL_WAIT, condition="removed") is None:
        raise GaveUp(
            f"container {container_id!r} stopped, but the daemon had not removed it"
            f" (autoRemove) {REMOVAL_WAIT:g} s later: an attached session holds its removal"
            f" while it is sent output; not started again (once it is gone: {PROG} start"
            f" {container_id} -b {container['bundlePath']} --rm)"
        )
    return _start_as(client, container, stdin=stdin)


def containers_restart(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``docker restart``: each id as given once running again; with ``--json``, each
    container as it runs again."""
    return each_container(
        args.ids,
        out,
        lambda container_id: restart(client, container_id, args.signal, args.timeout),
        _as_given,
    )


# --- resources and processes --------------------------------------------------------------------

#: The CFS period ``--cpus`` goes with (docker's: it refuses ``--cpu-period`` beside it).
CPU_PERIOD = 100_000


def resource_change(args: argparse.Namespace) -> Resources:
    """The limits ``update``'s options name (``run``'s and ``start``'s too), in the OCI shape
    the daemon takes. 0 is docker's: for ``--memory``, ``--memory-swap``, ``--cpu-shares``,
    ``--cpu-quota`` and ``--cpu-period`` no option given (docker's API reads 0 as unset: the
    default at a start, the bundle's here; nothing changed by an update), for
    ``--pids-limit`` no limit (-1, docker's "0 or -1: unlimited"), for ``--cpus`` no quota
    (-1: docker's run has no CPU limit then; its update changes nothing, which leaves its
    users no way to lift a --cpus, where this one lifts it). Until 2026-12-04 each 0 but
    ``--cpus`` went to the daemon as it was, and was its 400."""
    change: dict[str, dict[str, float]] = {}
    if args.memory:
        change["memory"] = {"limit": args.memory}
    if args.memory_swap:
        # docker's --memory-swap -1; any other swap limit is the daemon's 400 to say.
        change.setdefault("memory", {})["swap"] = args.memory_swap
    cpu: dict[str, float] = {}
    if args.cpu_shares:
        cpu["shares"] = args.cpu_shares
    if args.cpu_period:
        cpu["period"] = args.cpu_period
    if args.cpu_quota:
        cpu["quota"] = args.cpu_quota
    if args.cpus is not None and not (args.cpus == 0 and args.cpu_quota):
        # --cpus 0.5 is half of one CPU's time: 50000 us in each 100000 us period; 0 is none.
        # Never with --cpu-period or --cpu-quota (the parser refuses them, as docker does);
        # but --cpus 0 is docker's unset, and a --cpu-quota beside it is in force, as in
        # docker (a review's: the 0 went with it, and lifted it or was the daemon's 400).
        # Sent as such (cpu.cpus), not as its quota and period: the daemon keeps it, and
        # refuses a later --cpu-period or --cpu-quota that would make it another number of
        # CPUs, as docker does. (Until 2026-12-04 as a quota and a period, which a later
        # --cpu-period 50000 made 1 CPU of a --cpus 0.5.)
        cpu["cpus"] = args.cpus
    if cpu:
        change["cpu"] = cpu
    if args.pids_limit is not None:
        change["pids"] = {"limit": args.pids_limit or -1}
    return cast("Resources", change)


#: The fewest CPUs ``--cpus`` takes, docker's (its daemon refuses NanoCPUs below 10^7): 0 is
#: no limit, and anything between would be a quota of under 1000 us a period.
MIN_CPUS = 0.01


def cpus_problem(client: Client, args: argparse.Namespace) -> str | None:
    """``--cpus`` past the daemon's machine (or below :data:`MIN_CPUS`), refused as docker's
    daemon refuses its NanoCPUs: ``Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs
    available``. The daemon refuses a ``cpu.cpus`` past its host's too (a 400, since
    2026-12-06); checked here first all the same, for a usage error (exit 2) before any
    request, as before. The count is the daemon's (``GET /state``'s ``machine.cpus``), not this
    machine's, asked only where it decides: every machine has one CPU."""
    cpus: float | None = getattr(args, "cpus", None)
    if not cpus or MIN_CPUS <= cpus <= 1:
        return None  # not given, 0 (no limit), or within any machine's range
    available = client.state()["machine"]["cpus"]
    if MIN_CPUS <= cpus <= available:
        return None
    return (
        f"argument --cpus: {cpus:g} is out of range: the range of CPUs is from {MIN_CPUS:.2f}"
        f" to {available:.2f}, as there are only {available} CPUs available (the daemon's"
        " machine)"
    )


def containers_update(client: Client, args: argparse.Namespace, out: Output) -> int:
    change = resource_change(args)
    # --restart '' changes no policy, as docker's update (cli._restart_change): not sent.
    policy: RestartPolicy | None = args.restart if args.restart and args.restart["name"] else None

    def update(container_id: str) -> Container:
        # One change a PATCH: the limits first (the one a daemon may refuse for its cgroups),
        # then the policy.
        if change and policy is not None and policy["name"] != "no":
            _refuse_a_policy_with_auto_remove(client.container(container_id), policy)
        container = client.update(container_id, change) if change else None
        if policy is not None:
            container = client.set_restart_policy(container_id, policy)
        if container is None:
            # Limits of 0 alone (-m 0): docker's unset, so nothing to change, as docker's
            # update changes nothing then; the container must be there all the same.
            container = client.container(container_id)
        return container

    def said(container: Container, container_id: str) -> str:
        what = []
        if change or args.restart is None:
            what.append(describe_resources(container.get("resources") or {}))
        if args.restart is not None:
            what.append(f"restart {describe_restart(container.get('restartPolicy'))}")
        return f"updated {container_id}: {', '.join(what)}"

    return each_container(args.ids, out, update, said)


def _refuse_a_policy_with_auto_remove(container: Container, policy: RestartPolicy) -> None:
    """The daemon refuses a restart policy to a container it removes at its exit (its
    autoRemove, ``run --rm``), and did so once the limits given with it were changed: ``update
    -m 64m --restart always`` failed, exit 1, and left the new limit in force. Asked before
    either, so that a refused update changes nothing, as docker's (which checks the policy
    against ``--rm`` before it touches the cgroups)."""
    if container.get("autoRemove"):
        raise ApiError(
            400,
            f"cannot update container {container['id']!r}: restart policy"
            f" {describe_restart(policy)!r} given to a container removed at its exit"
            " (autoRemove, --rm): docker's --rm and --restart conflict; nothing was changed",
        )


def describe_restart(policy: RestartPolicy | None) -> str:
    """A restart policy in docker's --restart syntax."""
    if policy is None:
        return "no"
    count = policy.get("maximumRetryCount")
    # docker's 0 beside another policy is none: no --restart always:0.
    on_failure = policy["name"] == "on-failure"
    return f"{policy['name']}:{count}" if on_failure and count is not None else policy["name"]


def cp(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``cp``: in a module of its own, which imports tarfile only for this command."""
    from .copying import cp as copy

    return copy(client, args, out)


def export(client: Client, args: argparse.Namespace, out: Output) -> int:
    """``export``: beside ``cp`` in :mod:`.copying`, tarfile imported for these two only."""
    from .copying import export as write_archive

    return write_archive(client, args, out)


def containers_top(client: Client, args: argparse.Namespace, out: Output) -> int:
    if args.ps_args:  # docker top's [ps OPTIONS]: ps's own table
        table = client.top(args.id, args.ps_args)
        if out.as_json:
            out.document(table)
        else:
            out.table(table["titles"], table["processes"])
        return EXIT_OK
    answer = client.top(args.id)
    if out.as_json:
        out.document(answer)
    else:
        out.table(TOP_HEADERS, top_rows(answer["processes"]))
    return EXIT_OK


def _is_now(container: Container, _: str) -> str:
    return f"{container['id']} is {status(container)}"


def containers_pause(client: Client, args: argparse.Namespace, out: Output) -> int:
    return each_container(args.ids, out, client.pause, _is_now)


def containers_resume(client: Client, args: argparse.Namespace, out: Output) -> int:
    return each_container(args.ids, out, client.resume, _is_now)


def _deleted(_: Container, container_id: str) -> str:
    return f"deleted {container_id}"


def remove_stopped(client: Client, container_id: str) -> Container:
    """docker's rm without -f: remove the container only if it is stopped (and stays so),
    else the daemon's 409 naming its state (``cannot remove container 'web': container is
    running: stop the container before removing or force remove``), the container left as
    it was. The daemon judges it in the step that marks it being deleted (``DELETE
    ?status=stopped``)."""
    try:
        return client.delete_stopped(container_id)
    except ApiError as exc:
        if exc.status != 400 or "unknown query parameter" not in exc.message:
            raise
    # A daemon from before status=stopped (not reloaded since an upgrade): the container's
    # state read here first, and a live one refused here. This has the race the daemon's
    # own check closes: a container started again (or restarting) between this read and the
    # DELETE is stopped and removed all the same.
    state = state_name(client.container(container_id))
    if state != "stopped":
        if state == "paused":
            why = "container is paused and must be unpaused first"
        else:
            why = f"container is {state}: stop the container before removing or force remove"
        raise ApiError(409, f"cannot remove container {container_id!r}: {why}")
    return client.delete(container_id)


def containers_delete(client: Client, args: argparse.Namespace, out: Output) -> int:
    """docker's rm; -f its ForceRemove: SIGKILL alone (a trap on the stop signal never runs),
    -t then left aside (before, -f was a grace of 0: the stop signal, then SIGKILL). Several
    ids at once, their graces side by side, as docker's (:func:`at_once`). The top level's
    ``rm`` (``args.stopped_only``), as docker's, removes a stopped container only, unless -f
    (:func:`remove_stopped`): each refused one is said on stderr, the others removed, exit 1;
    ``containers delete``, the 2015 ctr's, stops a live one and removes it."""
    if args.stopped_only and not args.force:
        return each_container(args.ids, out, at_once(client, args.ids, remove_stopped), _deleted)
    timeout = None if args.force else args.timeout
    # docker's rm -f of a container that is not there says so but does not fail: what a script
    # wants gone is gone.
    return each_container(
        args.ids,
        out,
        at_once(
            client,
            args.ids,
            lambda client, container_id: client.delete(
                container_id, timeout=timeout, force=args.force
            ),
        ),
        _deleted,
        missing_ok=args.force,
    )


def containers_prune(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Delete every stopped container (its record and log with it), saying which; not one
    whose restart policy starts it again (docker's prune leaves a restarting container)."""
    # The daemon chooses and removes them (DELETE /containers?status=stopped): a list here,
    # then a delete of each id, removed a container started again under one of those ids
    # in between, running. A daemon from before that route (not reloaded since an upgrade)
    # is pruned as it was then.
    try:
        report = client.prune()
    except ApiError as exc:
        if exc.status not in (404, 405) or "no such endpoint" not in exc.message:
            raise
        stopped = [c["id"] for c in client.containers() if state_name(c) == "stopped"]
        if not stopped and not out.as_json:
            out.line("no stopped containers")
        return each_container(stopped, out, client.delete, _deleted, single=False)
    if out.as_json:
        out.document(report["deleted"])
    elif not report["deleted"] and not report["failed"]:
        out.line("no stopped containers")
    else:
        for container in report["deleted"]:
            out.line(_deleted(container, container["id"]))
    for failure in report["failed"]:
        named = repr(failure["id"]) in failure["error"]
        out.error(failure["error"] if named else f"container {failure['id']!r}: {failure['error']}")
    return EXIT_ERROR if report["failed"] else EXIT_OK


# --- checkpoints ------------------------------------------------------------------------------


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(path) if path is not None else None


def _bundle_hint(args: argparse.Namespace, error: ApiError) -> ApiError:
    """The daemon's 404 for a container it does not list, with what to do, when no bundle was
    given: a deleted container's checkpoints stay in its bundle, reached with ``-b``."""
    # The daemon's words for a container it does not list (not those for a checkpoint).
    if args.bundle is None and error.message == f"container {args.id!r} not found":
        return ApiError(
            error.status,
            f"{error.message}: for the checkpoints of a container the daemon does not list"
            " (deleted, or on another daemon), give its bundle: -b DIR",
        )
    return error


def checkpoints_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    try:
        checkpoints = client.checkpoints(args.id, bundle_path=_absolute(args.bundle))
    except ApiError as exc:
        raise _bundle_hint(args, exc) from exc
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
        rows.append([checkpoint["name"], ago(checkpoint["timestamp"]), ",".join(options) or "-"])
    out.table(("NAME", "CREATED", "OPTIONS"), rows)
    return EXIT_OK


def _following(
    client: Client,
    args: argparse.Namespace,
    out: Output,
    request: Request,
    kind: str,
    timeout: float | None,
) -> Any:
    """Make a checkpoint's or a restore's request, with a progress line at a terminal."""
    from .progress import call_following
    from .protocol import Tls

    return call_following(
        client,
        request,
        container_id=args.id,
        kind=kind,
        deadline=client.checkpoint_wait(timeout),
        out=out,
        tls=Tls(args.tls_ca, args.tls_cert, args.tls_key),
        retry_for=args.retry,
    )


@contextlib.contextmanager
def _going_on(out: Output, what: str, args: argparse.Namespace) -> Iterator[None]:
    """Say, at a Ctrl-C, that the daemon goes on with ``what``: it carries a checkpoint or a
    move to its end whether or not its client waits (a client that goes away cancels
    nothing there), so leaving in silence, as ``events`` does, let the user take the move for
    stopped when it went on and ended (done, the container gone from here) behind them."""
    try:
        yield
    except KeyboardInterrupt:
        out.error(
            f"interrupted: the daemon goes on with {what} (leaving does not stop it);"
            f" see how it ends with: {PROG} --address {args.address} inspect {args.id}"
        )
        raise
    except DaemonUnreachable as exc:
        if not exc.lost:
            raise
        # The connection broke once the request was sent (the server killed, or a live
        # upgrade's hand-over): the daemon, or its next server, carried it on or undid it, and
        # "lost the connection" alone left the user to guess which (a move: is it here?).
        raise DaemonUnreachable(
            exc.address,
            f"{exc.reason}; it may have gone on with {what} without us: see how it ended"
            f" with: {PROG} --address {args.address} inspect {args.id}",
            lost=True,
        ) from exc


def _criu_flags(args: argparse.Namespace) -> CriuFlags:
    """What CRIU may take along, as ``checkpoints create`` and ``migrate`` parse it alike
    (``cli._define_criu_options``): one reading of the flags for the two commands' bodies."""
    return {"tcp": args.tcp, "unix_sockets": args.unix_sockets, "shell": args.shell}


def checkpoints_create(client: Client, args: argparse.Namespace, out: Output) -> int:
    from . import routes

    request = routes.create_checkpoint(
        args.id,
        args.name,
        exit=args.exit,
        **_criu_flags(args),
        timeout=args.timeout,
    )
    with _going_on(out, f"the checkpoint {args.name} of {args.id}", args):
        checkpoint = _following(client, args, out, request, "checkpoint", args.timeout)
    if out.as_json:
        out.document(checkpoint)
    else:
        then = " and stopped it" if args.exit else ""
        out.line(f"checkpointed {args.id} as {checkpoint['name']}{then}")
    return EXIT_OK


def checkpoints_delete(client: Client, args: argparse.Namespace, out: Output) -> int:
    try:
        client.delete_checkpoint(args.id, args.name, bundle_path=_absolute(args.bundle))
    except ApiError as exc:
        raise _bundle_hint(args, exc) from exc
    if out.as_json:
        out.document({})
    else:
        out.line(f"deleted checkpoint {args.name} of {args.id}")
    return EXIT_OK


def migrate(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Each step with its time and size as it ends, then the downtime; exit 1 if it failed
    (the container then runs on where it was, unless the last line says otherwise)."""
    with (
        _going_on(out, f"the move of {args.id} to {args.to}", args),
        client.migrate(
            args.id,
            args.to,
            pre_copy=args.pre_copy,
            with_bundle=args.with_bundle,
            target_bundle_path=args.target_bundle,
            **_criu_flags(args),
            timeout=args.timeout,
        ) as steps,
    ):
        for step in steps:
            if out.as_json:
                out.record(step)
                out.stdout.flush()
                if step["step"] == "failed":
                    return EXIT_ERROR
                continue
            name = step["step"]
            if name == "failed":
                back = "rolled back: it runs here" if step.get("rolledBack") else "NOT rolled back"
                out.error(f"migration of {args.id} failed ({back}): {step.get('error')}")
                return EXIT_ERROR
            if name == "done":
                out.line(
                    f"moved {args.id} to {args.to} in {step['seconds']:.2f}s: downtime"
                    f" {step.get('downtime', 0):.3f}s, {size(step.get('bytes', 0))} sent"
                )
                continue
            label = f"{name} {step['round']}" if "round" in step else name
            sent = f"  {size(step['bytes'])}" if "bytes" in step else ""
            out.line(f"{label:<12} {step['seconds']:8.3f}s{sent}")
            out.stdout.flush()
    return EXIT_OK


# --- events, logs, stats, state ---------------------------------------------------------------


#: ``events -f``'s keys, docker's that mean something here.
EVENT_FILTERS = ("container", "event", "type", "label")
#: docker's names of events the daemon names otherwise, for ``events -f event=NAME``: a
#: container's init died, started, was unpaused, was removed; an exec'd process started, or
#: died. ``die`` is an ``exit`` of an init only (its ``init`` field), ``exec_die`` one of
#: another process (until 2026-12-05 a usage error, as ``exec_start``).
DOCKER_EVENTS = {
    "die": "exit",
    "start": "start-container",
    "unpause": "resume",
    "destroy": "delete",
    "exec_start": "start-process",
    "exec_die": "exit",
}
#: docker's names of some of the ``exit`` events: an init's, an exec'd process's.
DOCKER_EXITS = ("die", "exec_die")
#: docker's object types (``events -f type=T``): the daemon's events are of containers, but
#: for its own (``daemon-stopping``, its id empty), docker's ``type=daemon``.
DOCKER_OBJECT_TYPES = (
    "container", "image", "volume", "network", "daemon", "plugin", "node", "service", "secret",
    "config",
)  # fmt: skip


def parse_event_types(text: str) -> list[str]:
    """``events --type``: ``exit,oom`` as ``["exit", "oom"]``, the daemon's types; one that is
    none is an ArgumentTypeError that names them (a usage error, before any request, as ``-f
    event=`` is). It was the daemon's 400, and nothing at all with an ``--until`` past and no
    ``--since``, which asks nothing (exit 0)."""
    from ..event_types import EVENT_TYPES

    types = [part for part in text.split(",") if part]
    if not types:
        raise argparse.ArgumentTypeError("names no event type")
    for name in types:
        if name not in EVENT_TYPES:
            # docker's words are -f event='s, where die is an init's exit alone.
            docker = f" (docker's {name} is -f event={name})" if name in DOCKER_EVENTS else ""
            raise argparse.ArgumentTypeError(
                f"unknown event type {name!r}{docker}: the types are {', '.join(EVENT_TYPES)}"
            )
    return types


def parse_event_filter(text: str) -> list[tuple[str, str]]:
    """``events -f``: ``container=web,event=unpause`` as ``[("container", "web"), ("event",
    "resume")]``, docker's event names as the daemon's types but ``die`` and ``exec_die``,
    which are kept (an init's ``exit``, another process's: :func:`event_selection`); a key or
    a value that cannot be one is an ArgumentTypeError that names it (a usage error, before
    any request)."""
    from ..event_types import EVENT_TYPES
    from ..ids import invalid_id, is_id

    pairs = []
    for part in filter_parts(text, EVENT_FILTERS):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise argparse.ArgumentTypeError(f"{part!r} is not KEY=VALUE")
        if key not in EVENT_FILTERS:
            raise argparse.ArgumentTypeError(
                f"unknown filter key {key!r} in {part!r}: the keys are {', '.join(EVENT_FILTERS)}"
            )
        if key == "event":
            if value not in DOCKER_EXITS:
                value = DOCKER_EVENTS.get(value, value)
            if DOCKER_EVENTS.get(value, value) not in EVENT_TYPES:
                docker = ", ".join(f"{name} ({ours})" for name, ours in DOCKER_EVENTS.items())
                raise argparse.ArgumentTypeError(
                    f"{part!r}: an event is one of {', '.join(EVENT_TYPES)}, or docker's {docker}"
                )
        elif key == "type" and value not in DOCKER_OBJECT_TYPES:
            raise argparse.ArgumentTypeError(
                f"{part!r}: a type is one of docker's {', '.join(DOCKER_OBJECT_TYPES)}"
            )
        elif key == "container" and not is_id(value):
            raise argparse.ArgumentTypeError(f"{part!r}: {invalid_id(value)}")
        elif key == "label" and not value.partition("=")[0]:
            raise argparse.ArgumentTypeError(
                f"{part!r}: a label filter is label=KEY or label=KEY=VALUE, KEY not empty"
            )
        pairs.append((key, value))
    return pairs


def event_selection(args: argparse.Namespace) -> str | None:
    """Read ``events``' ``--id``, ``--type`` and ``-f`` into ``args.containers`` (the ids
    whose events are shown, any of them: none, all), ``args.type`` (the types, any of them:
    None, all), ``args.labels`` (all to match) and ``args.exits`` (of the exits, only the
    inits', docker's ``die``: ``"init"``; only the other processes', its ``exec_die``:
    ``"exec"``; all: None); the problem where no event could pass them.
    The daemon is asked for one id, a list of types and label filters (``GET
    /events?id=&type=&label=``): several ids are kept here, of its stream (a daemon since
    2026-12-06 takes ``id`` given several times too; one before refused it, a 400)."""
    if args.since is not None and args.until is not None:
        from ..timestamps import parse_ns

        # A duration is made a time as it is read (_moment), each at its own "now": --until
        # 10m --since 10m names one moment, its two times a few microseconds apart. A second
        # of slack tells that from an end before the start.
        if parse_ns(args.until) < parse_ns(args.since) - 1_000_000_000:
            # docker's daemon refuses it ("`since` time ... cannot be after `until` time");
            # this one printed nothing, or waited for an --until to come.
            return f"--since {args.since} is after --until {args.until}: no event would be shown"
    filters = [pair for pairs in args.filter for pair in pairs]
    # docker's several container filters are alternatives; --id is one more.
    containers = list(args.id or [])
    containers += [value for key, value in filters if key == "container"]
    args.containers = list(dict.fromkeys(containers))
    # docker's label filters all match: the daemon keeps them (?label=, each event judged by
    # the labels it carries, its container's when it came).
    args.labels = list(dict.fromkeys(value for key, value in filters if key == "label"))
    objects = {value for key, value in filters if key == "type"}
    # Of containers, or the daemon's own (daemon-stopping): one of the two kept here, of its
    # stream; both (or neither asked), every event.
    kinds = objects & {"container", "daemon"}
    args.objects = kinds if len(kinds) == 1 else None
    if objects and not kinds:
        return (
            f"-f type={sorted(objects)[0]}: the daemon's events are of containers"
            " (type=container) and its own (type=daemon), and none would be shown"
        )
    if kinds == {"daemon"} and (args.containers or args.labels):
        return (
            "-f type=daemon keeps the daemon's own events, which are of no container: with a"
            " container or a label filter none would be shown"
        )
    asked = {value for key, value in filters if key == "event"}
    # docker's die is a container's death, an init's exit; an exec'd process's is its
    # exec_die. So die keeps the exits that say init (until 2026-12-04 it kept every exit),
    # exec_die the others, unless exit, which keeps them all, is one of the alternatives, or
    # both are.
    args.exits = None
    if "exit" not in asked and len(asked.intersection(DOCKER_EXITS)) == 1:
        args.exits = "init" if "die" in asked else "exec"
    named = list(
        dict.fromkeys(
            DOCKER_EVENTS[value] if value in DOCKER_EXITS else value
            for key, value in filters
            if key == "event"
        )
    )
    if named and args.type:
        # Different keys must both match, as docker's: the types in both.
        both = [name for name in args.type if name in named]
        if not both:
            return (
                f"--type {','.join(args.type)} and -f event={','.join(named)} have no type in"
                " common: no event would be shown"
            )
        args.type = both
    elif named:
        args.type = named
    return None


def events(client: Client, args: argparse.Namespace, out: Output) -> int:
    import time

    from ..event_types import (
        DAEMON_EVENT_ID,
        EVENT_TYPES,
        EXITED_AT_FIELD,
        INIT_EXIT_FIELD,
        MOVED_EXIT_FIELD,
    )
    from ..timestamps import parse_ns

    # The type column as wide as the widest type the daemon publishes: it was 15, and a
    # checkpoint's course (checkpoint-started, -progress, -failed) pushed its ids out of line.
    width = max(len(name) for name in EVENT_TYPES)
    # One container the daemon keeps (?id=); several, this stream keeps of all of them.
    containers: list[str] = args.containers
    asked = containers[0] if len(containers) == 1 else None
    kept = set(containers) if len(containers) > 1 else None
    objects: set[str] | None = getattr(args, "objects", None)
    # --until: the events up to that moment (one past now: the stream is read until it comes).
    until_ns = parse_ns(args.until) if args.until is not None else None
    if until_ns is not None and args.since is None and until_ns <= time.time_ns():
        return EXIT_OK  # nothing past to replay, and the live ones come after it: docker's
    seen = 0
    since = args.since
    # For a stream taken up again before any event came (below): "from now on" is from here.
    began = _utc_now()
    last: str | None = None  # the timestamp of the last event printed
    again = False
    broken = False  # the last stream broke off, rather than end whole
    while True:
        received = False  # an event, by this stream
        with contextlib.ExitStack() as opened:
            try:
                # The daemon reads ?since= and ?until= (times: the parser turned a duration
                # into one), ?type= and ?label=; it ends the stream at until.
                stream = opened.enter_context(
                    client.events(
                        since=since,
                        container_id=asked,
                        types=args.type,
                        labels=args.labels,
                        until=args.until,
                    )
                )
            except DaemonUnreachable:
                # Not there again after a break: its words (cannot reach it), not "closed".
                if not again or broken:
                    raise
                out.error(f"the daemon at {client.address} closed the event stream")
                return EXIT_UNREACHABLE
            try:
                for event in stream:
                    received = True
                    if event["timestamp"] == last:
                        continue  # printed before the stream was taken up again
                    if kept is not None and event["id"] not in kept:
                        continue
                    # -f type=container or type=daemon: the daemon's own have no id.
                    of = "daemon" if event["id"] == DAEMON_EVENT_ID else "container"
                    if objects is not None and of not in objects:
                        last = event["timestamp"]
                        continue
                    if (
                        args.exits is not None
                        and event["type"] == "exit"
                        # die keeps an init's exit (not a move's), exec_die another process's,
                        # and every other type asked with them: until 2026-12-05 -f event=die
                        # -f event=start hid the starts.
                        and (
                            (not event.get(INIT_EXIT_FIELD) or bool(event.get(MOVED_EXIT_FIELD)))
                            if args.exits == "init"
                            else bool(event.get(INIT_EXIT_FIELD))
                        )
                    ):
                        # Passed over, but taken up again after it if the stream breaks.
                        last = event["timestamp"]
                        continue
                    last = event["timestamp"]
                    if args.format is not None:
                        if not _write_event(event, args.format, out):
                            # docker's stops at the first event its template does not fit
                            # (handleEvent's error ends runEvents): a script reading the
                            # stream sees it end, not a hole in it it may not notice.
                            return EXIT_ERROR
                    elif out.as_json:
                        out.record(event)
                    else:
                        # The rest as key=value: pid, status, a checkpoint's name and figures.
                        # Not an exit's exitedAt: a second time on the line, the timestamp's
                        # or within a few ms of it (--json and --format have it).
                        skipped = (
                            "timestamp",
                            "type",
                            "id",
                            "labels",
                            INIT_EXIT_FIELD,
                            EXITED_AT_FIELD,
                        )
                        extra = "".join(
                            f" {key}={_event_value(value)}"
                            for key, value in event.items()
                            if key not in skipped and value is not None
                        )
                        if labels := event.get("labels"):  # at the end, sorted, as docker's
                            pairs = sorted(labels.items())
                            extra += f" ({', '.join(f'{k}={v}' for k, v in pairs)})"
                        # The daemon's own (daemon-stopping), of no container: "(daemon)".
                        who = event["id"] or "(daemon)"
                        line = f"{event['timestamp']}  {event['type']:<{width}}  {who}"
                        out.line(line + extra)
                        out.stdout.flush()
                    seen += 1
                    if seen == args.count:
                        return EXIT_OK
            except DaemonUnreachable as exc:
                # The stream broke off mid-way: its server died (kill -9, the OOM killer), and
                # the keeper starts the next one at once (connections wait in its socket's
                # backlog meanwhile). Take the stream up again as after a hand-over (below):
                # the kept events fill the gap. It ended here, exit 3, the daemon serving on.
                if not exc.lost:
                    raise
                broken = True
            else:
                broken = False
        # The daemon ends event streams when it shuts down, and when its server hands over to a
        # new one (daemon reload): take the stream up again from the last event printed (events'
        # timestamps strictly increase, and a since replays the event of its time). A daemon
        # that stopped is waited for as by any command (--retry), then: exit 3. A stream the
        # daemon ended at --until ends the command: its until passed by this clock, or, if the
        # daemon's is ahead, a stream taken up again ended with nothing (a hand-over's next
        # server streams on until then).
        if (
            until_ns is not None
            and not broken
            and (time.time_ns() >= until_ns or (again and not received))
        ):
            return EXIT_OK
        again = True
        since = last or args.since or began


def _event_value(value: Any) -> str:
    """A field of an event's line as its JSON writes it (``restarting=true``, where Python's
    ``str`` printed ``True``; an object or a list compact); a string or a number as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        from .template import compact

        return compact(value)
    return str(value)


def _write_event(event: Any, form: str | Template, out: Output) -> bool:
    """An event as ``--format`` says (docker's ``events --format``): ``json`` as ``{{json .}}``
    (one compact object a line, the daemon's keys in its order), or the template on its JSON;
    True then. An event the template does not fit (a key of a string) is its error on stderr,
    nothing on stdout; False then, and the command ends there, as docker's (until 2026-12-04 the
    stream went on, exit 1 at its end)."""
    from .template import RenderError, compact

    if isinstance(form, str):  # json, the one keyword
        out.line(compact(event))
    else:
        try:
            out.line(form.render(event))
        except RenderError as exc:
            out.error(f"{event['type']} of {event['id']} at {event['timestamp']}: {exc}")
            out.stderr.flush()
            return False
    out.stdout.flush()
    return True


def logs(client: Client, args: argparse.Namespace, out: Output) -> int:
    # The output's bytes as the processes wrote them (not UTF-8, it may be), as docker logs.
    stdout, stderr = output.binary(out.stdout), output.binary(out.stderr)
    written = stdout  # the stream of the last record written
    # The daemon reads ?since= and ?until= (the parser turned a duration into a time).
    since, tail = args.since, args.tail
    # For a follow taken up again before any record came (below): "from now on" is from here.
    began = _utc_now() if args.follow and tail == 0 else None
    last: str | None = None  # the timestamp of the last record written
    at_last = 0  # how many records written have that timestamp
    if tail is not None and tail > 0:
        # -n N is the last N lines, as docker's --tail, but the daemon's tail counts records, and
        # a line past 16 KiB is several (as is a prompt and its answer): the records of the last
        # N lines are taken first, then a follow goes on right after them (below).
        kept, at_last = _last_lines(client, args.id, tail, since, args.until)
        for record, dropped in kept:
            # A terminal's record (a read) may hold several lines: those before the N, cut off.
            # --json prints the records as the daemon keeps them, whole.
            data = None if out.as_json or not dropped else _drop_lines(record, dropped)
            written = _write_record(record, args, out, stdout, stderr, written, data)
        if kept:
            last = kept[-1][0]["timestamp"]
            since, tail = last, None
        elif args.follow:
            since, tail = args.since, None  # the log held none: every record from now on
        else:
            return EXIT_OK
        if not args.follow:
            return EXIT_OK
        written.flush()
    while True:
        # The records of the last stamp already written, which the answer from that stamp on
        # begins with again: those of that stamp alone. The log may no longer hold them (a
        # container writing fast, its log rotated while the next server started): then the
        # answer begins at a later stamp, and its records are all new (when the count went
        # with the stamp of the moment, as many of each new stamp's were skipped).
        skip, skipped_stamp = at_last, last
        broken = False
        with client.logs(
            args.id, follow=args.follow, tail=tail, since=since, until=args.until
        ) as records:
            try:
                for record in records:
                    stamp = record["timestamp"]
                    if stamp == skipped_stamp and skip > 0:
                        skip -= 1  # written before the follow was taken up again
                        continue
                    at_last = at_last + 1 if stamp == last else 1
                    last = stamp
                    written = _write_record(record, args, out, stdout, stderr, written)
            except DaemonUnreachable as exc:
                # The answer broke off mid-way: its server died (kill -9, the OOM killer), and
                # the keeper starts the next one at once (connections wait in its socket's
                # backlog meanwhile); the logger wrote on. Ask again from the last record
                # written, as after a hand-over (below), whether following or not (a GET is
                # asked again): it ended here, exit 3, the daemon serving on, the rest unread.
                if not exc.lost:
                    raise
                broken = True
        # A follow ends when the container stopped, and also when the server hands over to a
        # new one (daemon reload), which leaves the container running: then follow again from
        # the last record written (a since is inclusive: those of its time already written are
        # skipped), as a reconnecting attach does, rather than end as if the container had.
        # A follow with --until ends at that moment, the container running: that end is final.
        # An answer broken off is never its end.
        if not broken and (
            not args.follow
            or args.until is not None
            or not _has_live_processes(client, args.id, out, follow="logs -f")
        ):
            return EXIT_OK
        if last is not None:
            since, tail = last, None
        elif began is not None:
            since, tail = began, None


def _write_record(
    record: LogRecord,
    args: argparse.Namespace,
    out: Output,
    stdout: BinaryIO | output.TextWriter,
    stderr: BinaryIO | output.TextWriter,
    written: BinaryIO | output.TextWriter,
    data: bytes | None = None,
) -> BinaryIO | output.TextWriter:
    """Write one record for ``logs`` (``data``: the part of its bytes to write, if not all);
    the stream written to (``written``: the one before)."""
    from ..logbytes import record_bytes

    if out.as_json:
        out.record(record)
        return written
    # The record's bytes are the line as the process wrote it, newline included (the last line
    # of a process that ended without one has none, nor has a piece of a line past 16 KiB, nor
    # a prompt): write them as they are. With its time in front, a record is a line of its own:
    # one without its newline gets one, or the next record's time would land in the middle of a
    # line (as docker's -t does it).
    stream = stderr if record["stream"] == "stderr" else stdout
    if stream is not written:
        # Their buffers know no lines (as text streams' do at a terminal): the records come
        # out in order, at a terminal or in one file (2>&1).
        written.flush()
    if data is None:
        data = record_bytes(record)
    if args.details:
        # docker's --details: the attributes its log driver was told to add (--log-opt
        # labels=, env=), "k=v,k2=v2", then a space, before each message (a record here). The
        # daemon has no such options, so there are none: the space alone, as docker prints it
        # for a container run without them.
        data = b" " + data
    if args.timestamps:
        # docker's form (RFC3339NanoFixed): nine digits, and Z for UTC, which the daemon's
        # stamps are in (+00:00); scripts that read docker logs -t read these.
        stamp = record["timestamp"]
        stream.write((stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp).encode() + b" ")
        if not data.endswith(b"\n"):
            data += b"\n"
    stream.write(data)
    if args.follow:
        stream.flush()
    return stream


def _last_lines(
    client: Client, container_id: str, count: int, since: str | None, until: str | None
) -> tuple[list[tuple[LogRecord, int]], int]:
    """The records of the last ``count`` lines of the log (``logs -n``), in the log's order,
    each with how many of its lines come before those (to leave out: a terminal's record, a
    read, may hold several lines), and how many records of the last one's timestamp the log
    holds up to it (a follow from that timestamp skips them). A line is a process's records on
    one stream up to one that ends with a newline (or its last): a line past 16 KiB is several
    records, and so is a prompt let go before its answer. The daemon's tail counts records: ask
    for more until the log's end holds the ``count`` lines whole (or is the whole log)."""
    asked = count
    while True:
        try:
            with client.logs(container_id, tail=asked, since=since, until=until) as answer:
                records = list(answer)
        except DaemonUnreachable as exc:
            if not exc.lost:
                raise
            continue  # broken off mid-way (a server's death): asked again, as logs does
        whole = len(records) < asked
        kept = _lines_at_the_end(records, count, whole)
        if kept is not None:
            stamp = records[-1]["timestamp"] if records else None
            if whole or records[0]["timestamp"] != stamp:
                chosen = [
                    (record, kept[index]) for index, record in enumerate(records) if index in kept
                ]
                return chosen, sum(1 for record in records if record["timestamp"] == stamp)
        asked *= 2


def _lines_at_the_end(records: list[LogRecord], count: int, whole: bool) -> dict[int, int] | None:
    """The indexes of the records of the last ``count`` lines of ``records`` (the end of the
    log; ``whole``: all of it), each with how many of its lines come before those (a record of
    a terminal holds what one read got, several lines it may be), or None if a line among
    those may begin before them."""
    lines = 0
    open_lines: dict[tuple[int, str], int] = {}  # a process's stream: its earliest line seen
    kept: dict[int, int] = {}
    for index in range(len(records) - 1, -1, -1):
        record = records[index]
        key = (record["pid"], record["stream"])
        line = open_lines.get(key)
        data = record["data"]  # its newlines are its bytes' (U+FFFD stands for other bytes)
        if line is None or data.endswith("\n"):
            # This record ends a line of its own (the one after it, if any, began a line).
            if not any(number <= count for number in open_lines.values()) and lines >= count:
                return kept
            lines += 1
            line = lines
        # Each newline before its last character ends a line that comes earlier: those are
        # the lines after the ``lines`` counted so far; the record begins in the earliest.
        earlier = data.count("\n", 0, len(data) - 1)
        open_lines[key] = lines + earlier if earlier else line
        if line <= count:
            # Its lines past the last ``count`` (counted from the end) are left out.
            kept[index] = max(0, lines + earlier - max(count, lines)) if earlier else 0
        lines += earlier
    if whole or (lines >= count and not any(number <= count for number in open_lines.values())):
        return kept
    return None


def _drop_lines(record: LogRecord, dropped: int) -> bytes:
    """A record's bytes without its first ``dropped`` lines (those before ``logs -n``'s)."""
    from ..logbytes import record_bytes

    data = record_bytes(record)
    cut = 0
    for _ in range(dropped):
        cut = data.index(b"\n", cut) + 1
    return data[cut:]


def _has_live_processes(client: Client, container_id: str, out: Output, *, follow: str) -> bool:
    """Whether a follow that ended should be taken up again: the container runs on here (its
    server handed over). Not if it stopped or was deleted; nor if it moved to another daemon
    (a migration), where it runs on: that is said, with where to follow it, as attach says it
    (until 2026-12-05 the follow ended in silence, exit 0, as at a stop)."""
    moved_to: str | None = None
    try:
        if client.container(container_id)["processes"]:
            return True
        # Its copy here ended: a move's ends before the copy is removed (its output read to
        # the end first), and the wait answers then, saying where it went; a stop's at once.
        ended = client.wait_within(container_id, WAIT_FOR_MOVED)
        if ended is not None and ended.get("moved"):
            moved_to = ended.get("movedTo")
    except ApiError as exc:
        if exc.status != 404:
            raise
        moved_to = exc.moved_to  # deleted meanwhile (None), or gone from here by a move
    if moved_to is not None:
        out.error(output.moved_away(container_id, moved_to, follow))
    return False


#: How long a follow that ended waits to learn whether its container moved away: a move's
#: copy is removed a moment after its output ends (its runc delete).
WAIT_FOR_MOVED = 5.0


def _utc_now() -> str:
    from ..timestamps import format_ns, now_ns

    return format_ns(now_ns())


def stats(client: Client, args: argparse.Namespace, out: Output) -> int:
    # --format: a template read with the command line (watch.stats_template), or "table".
    form = args.format if args.format != "table" else None
    if args.watch:
        from .watch import watch_stats

        return watch_stats(client, args.ids, out, form, every=args.all)
    if args.no_stream:
        from .watch import stats_once

        return stats_once(client, args.ids, out, form, every=args.all)
    [container_id] = args.ids  # the parser allows several only with --watch or --no-stream
    figures = client.stats(container_id)
    if out.as_json:
        out.document(figures)
        return EXIT_OK
    cpu = figures.get("cpu", {}).get("usage", {})
    memory = figures.get("memory", {}).get("usage", {})
    pids = figures.get("pids", {})
    rows = [["ID", container_id]]
    if cpu:
        total, user, system = (cpu.get(key, 0) / 1e9 for key in ("total", "user", "kernel"))
        rows.append(["CPU", f"{total:.3f}s (user {user:.3f}s, system {system:.3f}s)"])
    if memory:
        rows.append(
            [
                "MEMORY",
                f"{size(memory.get('usage', 0))}"
                f" (max {size(memory.get('max', 0))}, limit {limit(memory)})",
            ]
        )
    if pids:
        rows.append(["PIDS", f"{pids.get('current', 0)} (limit {limit(pids)})"])
    out.table(None, rows)
    return EXIT_OK


def daemon_reload(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.reload_daemon()
    if out.as_json:
        out.document({"reloading": True})
    else:
        out.line("reloading: a new server takes over; the containers run on")
    return EXIT_OK


def state(client: Client, args: argparse.Namespace, out: Output) -> int:
    answer = client.state()
    if out.as_json:
        out.document(answer)
        return EXIT_OK
    machine = answer["machine"]
    out.line(f"machine: {machine['cpus']} CPUs, {size(machine['memory'])} memory")
    out.line()
    out.table(CONTAINER_HEADERS, container_rows(answer["containers"]))
    return EXIT_OK
