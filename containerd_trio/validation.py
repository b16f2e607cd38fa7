"""The rules on what clients send, each written once: ids, signals, paths, ranges.

A rule is an attrs validator (:class:`Rule`) that can also say itself in JSON Schema: the
request models carry their own checks, the converter runs them as it builds a request, and the
OpenAPI document shows the same limits, read from the same objects. The limits themselves
(``MAX_PID``) are defined here and nowhere else; the id's pattern in :mod:`.ids`, which the
client reads too.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard, TypeVar

import attrs

from .config import DEFAULT_MAX_BODY_BYTES
from .convert import camel, json_type
from .errors import InvalidRequest, quoted
from .ids import ID_PATTERN as ID_PATTERN
from .ids import invalid_id
from .ids import is_id as is_id
from .signals import MAX_SIGNAL, MAX_STOP_TIMEOUT, signal_number
from .timestamps import parse_ns

T = TypeVar("T")

Schema = dict[str, Any]

#: The largest pid the kernel hands out (``pid_max`` is at most 2**22).
MAX_PID = 2**22
#: The largest uid or gid a file may be given ((uid_t)-1 means "no change" to the kernel).
MAX_UNIX_ID = 2**32 - 2
#: The largest a process may be given: runc takes 0..2**31-1 ("uids and gids must be in
#: range"), and refused a larger one only once it had spawned the process (a 500).
MAX_PROCESS_UNIX_ID = 2**31 - 1
#: The kernel's limits on a path and on one name in it, in bytes (PATH_MAX counts the NUL).
PATH_MAX = 4096
NAME_MAX = 255

#: The most supplementary groups a process may have (the kernel's NGROUPS_MAX): setgroups(2)
#: refuses more with EINVAL, which runc said only once it had spawned the process (a 500).
NGROUPS_MAX = 65536
#: The longest argument or environment string execve(2) takes, its NUL counted (the kernel's
#: MAX_ARG_STRLEN, 32 pages): a longer one made the process "exit 1" after a 201.
MAX_ARG_STRLEN = 32 * mmap.PAGESIZE
#: What execve(2) takes of arguments and environment together, whatever the stack limit: at
#: least 32 pages (the kernel's ARG_MAX), at most three quarters of the default 8 MiB stack.
MIN_ARG_SPACE = 32 * mmap.PAGESIZE
MAX_ARG_SPACE = 8 * 1024 * 1024 // 4 * 3
#: Kept out of that room for what the kernel and runc add: the program's path, which execve
#: copies beside its arguments, and a HOME that runc puts in an environment without one.
ARG_SPACE_RESERVE = 2 * PATH_MAX

#: Where a cgroup limit means "none" (OCI's linux.resources, and runc update's -1).
NO_LIMIT = -1
#: The kernel's bounds on cgroup limits. A memory limit counts whole pages (less than one is
#: none at all); cpu.shares outside its range is clamped by cgroup v1; a CFS period is 1 ms to
#: 1 s, a quota at least 1 ms and at most 2**44-1 us (the kernel's MAX_BW).
PAGE_SIZE = 4096
MAX_MEMORY_BYTES = 2**63 - 1
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 2**18
MIN_CPU_QUOTA_US, MAX_CPU_QUOTA_US = 1000, 2**44 - 1
MIN_CPU_PERIOD_US, MAX_CPU_PERIOD_US = 1000, 1_000_000
#: What a cgroup has of the two limits that have no "none": the kernel's defaults, which a
#: cgroup runc made without them keeps.
DEFAULT_CPU_SHARES, DEFAULT_CPU_PERIOD_US = 1024, 100_000
#: The period of a quota that ``cpu.cpus`` sets, docker's for ``--cpus``; the fewest CPUs it
#: takes (docker's daemon refuses NanoCPUs below 10^7), and the most (the quota's bound).
CPUS_PERIOD_US = 100_000
MIN_CPUS, MAX_CPUS = 0.01, MAX_CPU_QUOTA_US // CPUS_PERIOD_US


def check_id(value: str, what: str = "container id") -> str:
    if not is_id(value):
        raise InvalidRequest(invalid_id(value, what))
    return value


def is_integer(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a JSON integer as Python decodes one (``true`` is a bool, which
    Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def parse_signal(value: object) -> int:
    """An integer 1..64, or a string :func:`.signals.signal_number` reads (``"9"``, ``"TERM"``,
    ``"SIGRTMIN+3"``)."""
    if is_integer(value):  # true is no signal number
        if 1 <= value <= MAX_SIGNAL:
            return value
        raise InvalidRequest(f"signal {value} is out of range: it must be 1..{MAX_SIGNAL}")
    if isinstance(value, str):
        return signal_number(value)
    # Said as JSON, cut short: a list of long strings was quoted whole, in Python's words.
    raise InvalidRequest(
        f"signal must be an integer 1..{MAX_SIGNAL} or a name, not {json_type(value)}"
    )


# --- rules on fields ----------------------------------------------------------------------------


@attrs.frozen
class Rule:
    """An input rule: an attrs validator that says itself in JSON Schema too.

    ``check(name, value)`` raises ValueError (or InvalidRequest) with a sentence that names the
    field by its wire name; ``schema`` is the same rule as JSON Schema keywords, merged into the
    field's schema by the OpenAPI document. None (an optional field left out) is not checked.
    """

    check: Callable[[str, Any], None]
    schema: Schema

    def __call__(self, instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            self.check(camel(attribute.name), value)


def _each(rule: Rule) -> Rule:
    def check(name: str, values: Sequence[Any]) -> None:
        for n, value in enumerate(values):
            rule.check(f"{name}[{n}]", value)

    return Rule(check, {"items": rule.schema})


def _between(low: int, high: int) -> Rule:
    def check(name: str, value: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}, not {value}")

    return Rule(check, {"minimum": low, "maximum": high})


def _limit(low: int, high: int, unit: str = "", why_low: str = "") -> Rule:
    """A cgroup limit: ``NO_LIMIT`` (-1) for none, or a value between ``low`` (``why_low``
    says why there, if the kernel's own bound is not) and ``high``."""

    def check(name: str, value: int) -> None:
        if value != NO_LIMIT and not low <= value <= high:
            raise ValueError(
                f"{name} must be {NO_LIMIT} (no limit) or between {low}{why_low} and"
                f" {high}{unit}, not {value}"
            )

    return Rule(check, {"oneOf": [{"const": NO_LIMIT}, {"minimum": low, "maximum": high}]})


def _identifier(what: str) -> Rule:
    def check(_: str, value: str) -> None:
        check_id(value, what)

    return Rule(check, {"pattern": ID_PATTERN})


def _absolute_path(name: str, value: str) -> None:
    if not value.startswith("/"):
        raise ValueError(f"{name} must be an absolute path, not {quoted(value)}")
    if "\0" in value:
        raise ValueError(f"{name} must not contain NUL")
    # The kernel counts bytes; longer paths fail every system call with ENAMETOOLONG.
    size = len(value.encode("utf-8", "surrogatepass"))
    if size >= PATH_MAX:
        raise ValueError(f"{name} is {size} bytes long: a path is at most {PATH_MAX - 1}")
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in value.split("/"))
    if longest > NAME_MAX:
        raise ValueError(
            f"{name} has a name of {longest} bytes in it: a file name is at most {NAME_MAX}"
        )


def _bundle_path(name: str, value: str) -> None:
    _absolute_path(name, value)
    # Refused, not resolved: after a symbolic link the kernel takes ".." from where the link
    # led, so reading it away lexically could name another directory, and resolving the path
    # would follow links the client may have meant to keep (a bundle's path is the client's,
    # links included: docs/security.md). Kept, it was listed and handed to runc as written.
    if "/../" in value or value.endswith("/.."):
        raise ValueError(
            f"{name} must not hold '..': {quoted(value)} (give the bundle's path without it)"
        )


#: The control characters, Unicode's Cc (C0, DEL, C1), as a class's range: no label's name
#: holds one.
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{_CONTROLS}]")


def _labels(name: str, labels: Mapping[str, str]) -> None:
    # Docker's rule for a label's key is loose (any text); these are the ones no client can
    # show or give back: an empty name, a control character in a name (a newline split ps's
    # lines), NUL in a value (a C string ends there).
    for key, value in labels.items():
        if not key:
            raise ValueError(f"{name} holds a label with an empty name: give every label a name")
        control = _CONTROL.search(key)
        if control is not None:
            raise ValueError(
                f"label {quoted(key)} in {name} has a control character"
                f" ({quoted(control.group())}) in its name: a name may hold none"
            )
        if "\0" in value:
            raise ValueError(
                f"label {quoted(key)} in {name} has NUL in its value: a value may not hold it"
            )


#: The most a container's labels may come to where no request's body bounded them (a
#: checkpoint's ``process.json``, which may come in an archive from anyone): a start's labels
#: are within its body, 1 MiB by default (``--max-body-bytes``), counted as
#: :func:`check_labels_size` counts them. Past it they are no start's of a daemon as shipped.
MAX_LABELS_BYTES = DEFAULT_MAX_BODY_BYTES
#: What a label adds to a body besides its name and value: two quotes for each, the colon and
#: the comma. Its floor bounds their number too (a label's name is at least a byte).
_LABEL_JSON_BYTES = 6


def check_labels_size(labels: Mapping[str, object], *, name: str = "labels") -> None:
    """Refuse (ValueError naming ``name``) the labels that come to more than
    :data:`MAX_LABELS_BYTES` with their JSON's quotes and separators (names and values in
    UTF-8). Their number is looked at first, then each until the sum is past the bound: a
    file within its own bound may hold millions, and checking each took seconds of the event
    loop. What is not a string is left to other checks."""
    if len(labels) * (_LABEL_JSON_BYTES + 1) > MAX_LABELS_BYTES:
        raise ValueError(
            f"{name} holds {len(labels)} labels: labels may come to at most"
            f" {MAX_LABELS_BYTES} bytes as a start's body writes them, which holds at most"
            f" {MAX_LABELS_BYTES // (_LABEL_JSON_BYTES + 1)}"
        )
    total = 0
    for key, value in labels.items():
        total += _LABEL_JSON_BYTES + len(key.encode("utf-8", "surrogatepass"))
        if isinstance(value, str):
            total += len(value.encode("utf-8", "surrogatepass"))
        if total > MAX_LABELS_BYTES:
            raise ValueError(
                f"{name} come to more than {MAX_LABELS_BYTES} bytes (at label {quoted(key)}):"
                f" labels may come to at most {MAX_LABELS_BYTES} bytes as a start's body"
                " writes them"
            )


#: docker's restart policies (``docker run --restart``), by their wire names.
RESTART_POLICY_NAMES = ("no", "always", "on-failure", "unless-stopped")
#: moby's name of no policy beside "no": old clients send it (its API's "empty string means not
#: to restart"); :func:`.restarts.in_force` takes it as "no". Left out of the message, as moby's.
RESTART_POLICY_EMPTY = ""


def _restart_policy_name(name: str, value: str) -> None:
    if value not in RESTART_POLICY_NAMES and value != RESTART_POLICY_EMPTY:
        raise ValueError(
            f"{name} must be one of {', '.join(RESTART_POLICY_NAMES)}, not {json_type(value)}"
        )


def _timestamp(name: str, value: str) -> None:
    try:
        parse_ns(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a time: {exc}") from None


def _not_negative(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")


def _seconds(name: str, value: float) -> None:
    if not 0 <= value < math.inf:  # NaN fails every comparison
        raise ValueError(f"{name} must be 0 or more (and finite), not {value}")


def _stop_seconds(name: str, value: float) -> None:
    if value != -1 and not 0 <= value < math.inf:  # NaN fails every comparison
        raise ValueError(
            f"{name} must be -1 (no SIGKILL: the exit waited for however long it takes) or 0"
            f" or more seconds (and finite), not {value}"
        )


def _stop_timeout(name: str, value: int) -> None:
    if not -1 <= value <= MAX_STOP_TIMEOUT:
        raise ValueError(
            f"{name} must be -1 (no SIGKILL: the exit waited for however long it takes) or 0"
            f" to {MAX_STOP_TIMEOUT} seconds, not {value}"
        )


def _stop_signal(name: str, value: str) -> None:
    # A name kept in a record or a checkpoint's file (which may come from anyone), read back
    # as the start's stopSignal was.
    try:
        signal_number(value)
    except InvalidRequest as exc:
        raise ValueError(f"{name}: {exc.message}") from None


def _deadline(name: str, value: float) -> None:
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be a number of seconds above 0 (and finite), not {value}")


def _program(name: str, args: Sequence[str]) -> None:
    if not args:
        raise ValueError(f"{name} must hold at least the program to run")
    if not args[0]:
        raise ValueError(f"{name}[0], the program to run, must not be empty")
    for index, arg in enumerate(args):
        if "\0" in arg:  # exec's strings end at a NUL: runc refused it after spawning
            raise ValueError(f"{name}[{index}] must not contain NUL")


def _environment_entry(name: str, entry: str) -> None:
    if entry.find("=") < 1:
        raise ValueError(f"{name} must be NAME=VALUE, not {quoted(entry)}")
    if "\0" in entry:
        raise ValueError(f"{name} must not contain NUL")


def _group_ids(name: str, gids: Sequence[int]) -> None:
    if len(gids) > NGROUPS_MAX:
        raise ValueError(
            f"{name} holds {len(gids)} gids: a process may have at most {NGROUPS_MAX}"
            " supplementary groups (the kernel's NGROUPS_MAX)"
        )
    for n, gid in enumerate(gids):
        UNIX_ID.check(f"{name}[{n}]", gid)


def argument_space(stack_limit: int | None = None) -> int:
    """The bytes of argument and environment strings (NULs and pointers counted) that
    execve(2) takes under the soft stack limit ``stack_limit`` (the daemon's own when None,
    which runc passes on to the processes it starts): a quarter of it, within the kernel's
    bounds (fs/exec.c)."""
    # glibc's SC_ARG_MAX: a quarter of the daemon's stack limit, at least ARG_MAX (no cap).
    quarter = os.sysconf("SC_ARG_MAX") if stack_limit is None else stack_limit // 4
    return max(MIN_ARG_SPACE, min(MAX_ARG_SPACE, quarter))


def check_exec_strings(
    process: Mapping[str, Any], *, field: str = "", where: str = "", room: int | None = None
) -> None:
    """Refuse (400) the OCI process whose ``args`` and ``env`` execve(2) would refuse with
    E2BIG once runc had spawned it (a 201, then the process "exited 1" with ``argument list
    too long``): a string longer than the kernel's MAX_ARG_STRLEN, or more than
    :func:`argument_space` (under the process's own RLIMIT_STACK, if it sets one) in all,
    counted as the kernel counts (each string's bytes and its NUL, and a pointer for each),
    less :data:`ARG_SPACE_RESERVE`; or more than ``room`` bytes, where that is given (a
    process of another host's: :data:`MAX_ARG_SPACE` less the reserve, the most any takes).
    ``field`` goes before the names (``process.``), ``where`` after them (`` in
    /b/config.json``). What is not a list of strings is left to other checks."""
    args = _list(process.get("args"))
    env = _list(process.get("env"))
    if room is None:
        room = argument_space(_stack_limit(process)) - ARG_SPACE_RESERVE
    total = (max(len(args), 1) + len(env)) * _POINTER_BYTES
    if total > room:
        # Their pointers alone are past it: said before each string is looked at (a list of
        # millions, from a file anyone may have written, would take seconds).
        raise _past_exec_room(field, where, total, room)
    for name, strings in (("args", args), ("env", env)):
        for index, value in enumerate(strings):
            if not isinstance(value, str):
                continue
            size = len(value.encode("utf-8", "surrogatepass"))
            if size >= MAX_ARG_STRLEN:
                raise InvalidRequest(
                    f"{field}{name}[{index}]{where} is {size} bytes: a process's argument or"
                    f" environment string may be at most {MAX_ARG_STRLEN - 1} bytes (the"
                    f" kernel's MAX_ARG_STRLEN, {MAX_ARG_STRLEN}, counts its NUL)"
                )
            total += size + 1
    if total > room:
        raise _past_exec_room(field, where, total, room)


def _past_exec_room(field: str, where: str, total: int, room: int) -> InvalidRequest:
    return InvalidRequest(
        f"{field}args and {field}env{where} come to {total} bytes with their NULs and"
        f" pointers: a process may be given at most {room} here (execve takes a quarter of"
        f" the stack limit, within {MIN_ARG_SPACE} and {MAX_ARG_SPACE} bytes, less"
        f" {ARG_SPACE_RESERVE} kept for the program's path and what runc adds)"
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _stack_limit(process: Mapping[str, Any]) -> int | None:
    """The soft RLIMIT_STACK the OCI process sets itself (runc sets it before the exec)."""
    for rlimit in _list(process.get("rlimits")):
        if isinstance(rlimit, dict) and rlimit.get("type") == "RLIMIT_STACK":
            soft = rlimit.get("soft")
            if is_integer(soft):
                return soft
    return None


_POINTER_BYTES = 8 if sys.maxsize > 2**32 else 4

CONTAINER_ID = _identifier("container id")
CHECKPOINT_NAME = _identifier("checkpoint name")
MIGRATION_ID = _identifier("migration id")
#: Pre-copy rounds of a migration: each copies what changed since the last, so a few are
#: all that ever help.
MAX_PRE_COPY = 100
PRE_COPY_ROUNDS = _between(0, MAX_PRE_COPY)
ABSOLUTE_PATH = Rule(
    _absolute_path,
    {"pattern": rf"^(/[^/\x00]{{0,{NAME_MAX}}})+$", "maxLength": PATH_MAX - 1},
)
#: An OCI bundle's directory: an absolute path without a ".." component.
BUNDLE_PATH = Rule(
    _bundle_path,
    {**ABSOLUTE_PATH.schema, "not": {"pattern": "/\\.\\.(/|$)"}},
)
PID = _between(1, MAX_PID)
UNIX_ID = _between(0, MAX_PROCESS_UNIX_ID)
#: A process's supplementary groups.
GROUP_IDS = Rule(_group_ids, {"maxItems": NGROUPS_MAX, "items": UNIX_ID.schema})
NOT_NEGATIVE = Rule(_not_negative, {"minimum": 0})
#: A moment, as the daemon writes them: RFC 3339 (with any fraction, and an offset).
TIMESTAMP = Rule(_timestamp, {"format": "date-time"})
RESTART_POLICY_NAME = Rule(
    _restart_policy_name, {"enum": [*RESTART_POLICY_NAMES, RESTART_POLICY_EMPTY]}
)
SECONDS = Rule(_seconds, {"minimum": 0})
DEADLINE = Rule(_deadline, {"exclusiveMinimum": 0})
#: A stop's grace: seconds from its signal to SIGKILL (any number, as a delete's), -1 for no
#: SIGKILL (docker's stop -t -1).
STOP_SECONDS = Rule(_stop_seconds, {"anyOf": [{"const": -1}, {"minimum": 0}]})
#: docker's StopTimeout: seconds from the stop signal to SIGKILL, -1 for no SIGKILL.
STOP_TIMEOUT = Rule(_stop_timeout, {"minimum": -1, "maximum": MAX_STOP_TIMEOUT})
#: docker's StopSignal as the daemon keeps it: a name :func:`.signals.signal_number` reads.
STOP_SIGNAL = Rule(_stop_signal, {"minLength": 1})
MEMORY_LIMIT = _limit(PAGE_SIZE, MAX_MEMORY_BYTES, " bytes")
#: The least memory limit a client may ask for, at a start or in an update: docker's
#: (linuxMinMemory, "Minimum memory limit allowed is 6MB"), which its users expect. The kernel
#: takes any whole page, but runc's init holds about 2 MiB in the container's cgroup as it
#: starts (a start under it fails: "unable to set memory limit ... current usage"), and a
#: limit just above that leaves the container next to nothing. Only what a client asks is
#: held to it: a limit in force already (a record's, a checkpoint's) was taken once, and is
#: read back under the kernel's bound (MEMORY_LIMIT).
MIN_REQUESTED_MEMORY_BYTES = 6 * 1024 * 1024
REQUESTED_MEMORY_LIMIT = _limit(
    MIN_REQUESTED_MEMORY_BYTES,
    MAX_MEMORY_BYTES,
    " bytes",
    why_low=" (6 MiB: docker's minimum memory limit)",
)


def _swap_lift(name: str, value: int) -> None:
    # A client sets no swap limit: the daemon lifts a bundle's (see
    # containerd_trio.resources.lay_over), as a memory limit of -1 does with runc, or its
    # own, docker's twice the memory limit beside one (resources.default_swap).
    if value != NO_LIMIT:
        raise ValueError(f"{name} must be {NO_LIMIT} (no limit: lifts the bundle's), not {value}")


MEMORY_SWAP = Rule(_swap_lift, {"const": NO_LIMIT})
CPU_SHARES = _between(MIN_CPU_SHARES, MAX_CPU_SHARES)
CPU_QUOTA = _limit(MIN_CPU_QUOTA_US, MAX_CPU_QUOTA_US, " microseconds")
CPU_PERIOD = _between(MIN_CPU_PERIOD_US, MAX_CPU_PERIOD_US)


def _cpus(name: str, value: float) -> None:
    if value != 0 and not MIN_CPUS <= value <= MAX_CPUS:
        raise ValueError(
            f"{name} must be 0 (lifts it) or between {MIN_CPUS} and {MAX_CPUS} CPUs, not {value:g}"
        )


CPUS = Rule(_cpus, {"oneOf": [{"const": 0}, {"minimum": MIN_CPUS, "maximum": MAX_CPUS}]})
PIDS_LIMIT = _limit(1, MAX_PID)
_NO_NUL = "^[^\\x00]*$"
PROGRAM = Rule(
    _program,
    {
        "minItems": 1,
        "prefixItems": [{"minLength": 1, "pattern": _NO_NUL}],  # items are those after it
        "items": {"pattern": _NO_NUL},
    },
)
ENVIRONMENT_ENTRY = Rule(_environment_entry, {"pattern": "^[^=\\x00]+=[^\\x00]*$"})
ENVIRONMENT = _each(ENVIRONMENT_ENTRY)
#: A container's labels: a name is not empty and holds no control character; a value holds
#: no NUL (tabs and newlines are fine: docker's values hold them).
LABELS = Rule(
    _labels,
    {
        "propertyNames": {"minLength": 1, "pattern": f"^[^{_CONTROLS}]*$"},
        "additionalProperties": {"type": "string", "pattern": _NO_NUL},
    },
)
#: A terminal's rows or columns (the kernel keeps each in 16 bits).
CONSOLE_DIMENSION = _between(0, 65535)


def doc(description: str, *, like: Rule | None = None, **schema: Any) -> dict[str, Schema]:
    """A field's ``metadata``: what the OpenAPI document says of it beyond its type.

    ``like`` shows a rule that the field's values obey without checking it (an answer's id is
    the daemon's own, checked when it came in).
    """
    return {"schema": {**(like.schema if like else {}), "description": description, **schema}}


# --- rules on whole objects ---------------------------------------------------------------------


@attrs.frozen
class ExactlyOne:
    """A class rule: exactly one of these fields is given (a null counts as left out)."""

    names: tuple[str, ...]

    def __call__(self, instance: object) -> None:
        given = [name for name in self.names if getattr(instance, name) is not None]
        if len(given) == 1:
            return
        wire = " or ".join(f'"{camel(name)}"' for name in self.names)
        if not given:
            raise ValueError(f"give {wire}")
        if len(self.names) == 2:
            raise ValueError(f"give either {wire}, not both")
        both = " and ".join(f'"{camel(name)}"' for name in given)
        raise ValueError(
            f"give one of {wire}, not {'both' if len(given) == 2 else 'all of'} {both}"
        )

    @property
    def schema(self) -> Schema:
        wire = [camel(name) for name in self.names]
        return {
            "oneOf": [
                {
                    "required": [name],
                    "properties": {
                        other: {"not": {"type": "null"}} if other == name else {"type": "null"}
                        for other in wire
                    },
                }
                for name in wire
            ]
        }


@attrs.frozen
class OnlyWhen:
    """A class rule: ``field`` may be given only while ``other`` holds ``value`` (docker's
    ``--restart on-failure:N``: a retry count means nothing to the other policies), or as
    ``none``, what means none in docker's shape (its clients send ``MaximumRetryCount`` 0
    beside every policy, and moby takes it)."""

    field: str
    other: str
    value: str
    hint: str = ""
    none: int | None = None

    def __call__(self, instance: object) -> None:
        if getattr(instance, self.field) in (None, self.none):
            return
        held = getattr(instance, self.other)
        if held != self.value:
            hint = f" ({self.hint})" if self.hint else ""
            raise ValueError(
                f"{camel(self.field)} is for {self.value} only, not for {held!r}{hint}"
            )

    @property
    def schema(self) -> Schema:
        # Either the other field holds the value, or this one is left out (or null, or none).
        unset: Schema = {"type": "null"} if self.none is None else {"enum": [None, self.none]}
        return {
            "anyOf": [
                {"properties": {camel(self.other): {"const": self.value}}},
                {"properties": {camel(self.field): unset}},
            ]
        }


#: Where :func:`class_rule` keeps the rule, for the OpenAPI document.
CLASS_RULE = "__class_rule__"


def class_rule(rule: ExactlyOne | OnlyWhen) -> Callable[[type[T]], type[T]]:
    """Check ``rule`` once the attrs class is built; apply below ``@attrs.frozen``."""

    def apply(cls: type[T]) -> type[T]:
        def check(self: object) -> None:
            rule(self)

        setattr(cls, "__attrs_post_init__", check)  # noqa: B010 (mypy would refuse the dot)
        setattr(cls, CLASS_RULE, rule)
        return cls

    return apply
