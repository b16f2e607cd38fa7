"""OCI bundles: what the daemon reads of a bundle's ``config.json``, and how.

runc reads the whole configuration itself; the daemon needs only a few facts of it: the
process (shown in listings, and the base of every exec'd process) and whether the container
has a memory limit (only then is an OOM watcher worth its fd and task).

A bundle belongs to its client, so ``config.json`` is read only as a regular file inside the
bundle: opened with :mod:`beneath` (no symbolic link, so not ``/etc/shadow`` through one), and
non-blocking (a FIFO must not hang the daemon), then checked with ``fstat``. The daemon parses
it before runc sees it, and a start is refused with a 400 that names what is wrong without
quoting the file. runc's own parse errors quote the byte they stumbled on ("invalid character
'r' looking for beginning of value"), so :func:`without_file_contents` replaces them with a
sentence of ours: the file can still change between the daemon's read and runc's.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import attrs

from . import beneath
from .errors import InvalidRequest, quoted
from .model import Resources
from .resources import from_oci, memory_limited
from .validation import GROUP_IDS, check_exec_strings, is_integer

CONFIG_NAME = "config.json"
#: Far above any real configuration (seccomp profiles included): the file is read in one go
#: on the daemon's thread.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@attrs.frozen
class BundleConfig:
    """What the daemon reads of a bundle's config.json."""

    #: The OCI process object (shared between callers: never change it).
    process: dict[str, Any]
    #: Whether the container's cgroup has a memory limit: only then can it be killed for
    #: memory by its own cgroup, and only then is an OOM watcher worth its fd and task.
    memory_limited: bool
    #: ``linux.cgroupsPath`` (runc puts the cgroups under the id when it is unset).
    cgroups_path: str | None = None
    #: The cgroup limits of ``linux.resources`` that runc puts in force.
    resources: Resources = attrs.Factory(Resources)
    #: Why runc cannot start (or restore) a container from this config, in a sentence that
    #: names the field and the file; None if nothing is wrong with it (see
    #: :func:`check_startable`). Only a start says it: an exec takes the process as its base
    #: whatever else the file holds, and an adopted container runs already.
    unstartable: str | None = None
    #: The root filesystem, ``root.path`` (relative to the bundle if relative, as runc takes it).
    rootfs: str | None = None
    #: Whether runc makes the container a pid namespace of its own (``linux.namespaces``
    #: names ``pid`` with no path), whose init's death ends every other process of it; None
    #: where the config does not say in a form runc takes.
    own_pid_namespace: bool | None = None

    @property
    def terminal(self) -> bool:
        return bool(self.process.get("terminal"))


_UNREADABLE = BundleConfig(process={}, memory_limited=True)

#: config.json path -> (the identity of the file read, what was read). Containers started from
#: one bundle share the parse; another file, or a changed one, is read again.
_bundle_configs: dict[str, tuple[tuple[int, ...], BundleConfig]] = {}


def check_config(bundle: Path) -> BundleConfig:
    """The facts of the bundle's config.json; 400 if it is not a JSON object in a regular file
    of the bundle's own. The messages never quote the file."""
    where = os.path.join(bundle, CONFIG_NAME)
    cached = _bundle_configs.get(where)
    if cached is not None and _still(where, cached[0]):
        return cached[1]
    data, identity = _read(bundle, where)
    config = _parse(data, where)
    linux = _object(config.get("linux"))
    resources = from_oci(linux.get("resources"))
    cgroups_path = linux.get("cgroupsPath")
    root_path = _object(config.get("root")).get("path")
    # As runc takes it: relative to the bundle (os.path.join keeps an absolute one whole).
    rootfs = os.path.join(bundle, root_path) if isinstance(root_path, str) and root_path else None
    facts = BundleConfig(
        process=dict(_object(config.get("process"))),
        memory_limited=memory_limited(resources),
        cgroups_path=cgroups_path if isinstance(cgroups_path, str) and cgroups_path else None,
        resources=resources,
        unstartable=_unstartable(config, where),
        rootfs=rootfs,
        own_pid_namespace=_own_pid_namespace(linux.get("namespaces")),
    )
    if len(_bundle_configs) >= 1024:
        _bundle_configs.clear()
    _bundle_configs[where] = (identity, facts)
    return facts


def _own_pid_namespace(namespaces: object) -> bool | None:
    if not isinstance(namespaces, list):
        return None if namespaces is not None else False
    for namespace in namespaces:
        if not isinstance(namespace, dict):
            return None
        if namespace.get("type") == "pid":
            return not namespace.get("path")
    return False


def check_startable(bundle: Path, facts: BundleConfig) -> None:
    """400 for a config of the bundle that runc would refuse to start (or restore) a container
    from, before anything is made: runc said so in a 500 (``args must not be empty``, ``root
    must be specified``), or, with the rootfs no directory, in words of no help (``fork/exec
    /proc/self/exe: not a directory``). What the document holds was checked as it was parsed
    (:func:`_unstartable`, once per parse); the rootfs is looked at each time, with one
    ``lstat``: it may have gone or changed since, and the parse is cached."""
    if facts.unstartable is not None:
        raise InvalidRequest(facts.unstartable)
    if facts.rootfs is None:  # only the unreadable config's facts, which no start gets
        return
    try:
        mode = os.lstat(facts.rootfs).st_mode
    except OSError as exc:
        if exc.errno in DAEMON_ERRNOS:
            raise
        raise InvalidRequest(f"{_rootfs_named(bundle, facts)}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        return  # every start but a refused one: no words made for it
    named = _rootfs_named(bundle, facts)
    if stat.S_ISLNK(mode):  # runc's own check: "invalid rootfs: ... or a symlink"
        raise InvalidRequest(
            f"{named}, a symbolic link: runc takes the root filesystem only as the directory itself"
        )
    raise InvalidRequest(f"{named}, which is not a directory (it is {file_kind(mode)})")


def _rootfs_named(bundle: Path, facts: BundleConfig) -> str:
    return f"root.path in {os.path.join(bundle, CONFIG_NAME)} names {facts.rootfs}"


def refused_rootfs(bundle: Path, facts: BundleConfig, runc_message: str) -> InvalidRequest | None:
    """runc's refusal of a ``root.path`` with a symbolic link on its way, as a 400 that names
    the link; None if runc failed for another reason. runc takes the root only as the path its
    links resolve to (its ``invalid rootfs: not an absolute path, or a symlink``, in a 500):
    :func:`check_startable`'s one ``lstat`` sees the last part only, and a walk of every part
    on every start would do again what runc does, so the walk is made once runc said so."""
    if "invalid rootfs" not in runc_message or facts.rootfs is None:
        return None
    named = f"root.path in {os.path.join(bundle, CONFIG_NAME)} names {facts.rootfs}"
    # As runc makes it absolute: from the bundle's real path (its working directory), then
    # ".." taken lexically.
    path = os.path.normpath(os.path.join(os.path.realpath(bundle), facts.rootfs))
    reached = "/"
    for part in path.split("/")[1:]:
        reached = os.path.join(reached, part)
        if os.path.islink(reached):  # False for what cannot be reached
            return InvalidRequest(
                f"{named}, whose part {reached} is a symbolic link: runc takes the root"
                " filesystem only by a path without one"
            )
    return InvalidRequest(f"{named}: runc refused it ({runc_message})")


def _unstartable(config: dict[str, Any], where: str) -> str | None:
    """What runc would refuse in the parsed config before it starts a process (its
    validateProcessSpec, and the root it must have), and what execve would refuse of the
    process's strings: a sentence naming the field and the file, or None. Looks only at the
    document (no system call)."""
    in_file = f" in {where}"
    process = config.get("process")
    if not isinstance(process, dict):
        return f"{where} has no process object: a container needs process.args, the program to run"
    args = process.get("args")
    if not _strings(args) or not args:
        return f"process.args{in_file} must be a list of strings, the program to run first"
    if not _strings(process.get("env") or []):
        return f"process.env{in_file} must be a list of NAME=VALUE strings"
    cwd = process.get("cwd")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        return f"process.cwd{in_file} must be an absolute path: runc runs no process without one"
    gids = _object(process.get("user")).get("additionalGids")
    try:
        if isinstance(gids, list) and all(is_integer(gid) for gid in gids):
            GROUP_IDS.check("process.user.additionalGids", gids)
        check_exec_strings(process, field="process.", where=in_file)
    except ValueError as exc:
        return f"{where}: {exc}"
    except InvalidRequest as exc:
        return exc.message
    root_path = _object(config.get("root")).get("path")
    if not isinstance(root_path, str) or not root_path:
        return f"{where} names no root.path: the directory of the container's root filesystem"
    return None


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def read_config(bundle: Path) -> tuple[bytes, dict[str, Any]]:
    """The bundle's config.json as it is and as a JSON object, read as a start reads it (for
    what needs more of it than :func:`check_config`'s facts: an export, a restore); 400
    naming what is wrong, as a start's."""
    where = os.path.join(bundle, CONFIG_NAME)
    data, _ = _read(bundle, where)
    return data, _parse(data, where)


def _read(bundle: Path, where: str) -> tuple[bytes, tuple[int, ...]]:
    """The bytes of a config.json that is a regular file of the bundle's own, and the
    identity of the file read."""
    fd = _open_config(bundle, where)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidRequest(
                f"{where} is not a regular file (it is {file_kind(info.st_mode)}): a bundle's"
                " config is read only from a regular file"
            )
        # Only a regular file gets here (open() would refuse a directory in words of its own).
        with open(fd, "rb", closefd=False) as config_file:
            try:
                return config_file.read(MAX_CONFIG_BYTES + 1), _identity(info)
            except OSError as exc:  # EIO: the file is there but cannot be read
                if exc.errno in DAEMON_ERRNOS:
                    raise
                raise InvalidRequest(f"{where} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _still(where: str, identity: tuple[int, ...]) -> bool:
    """``where`` is still the regular file of that identity, checked and read before: one
    ``lstat`` where a check opens the bundle and the file and closes both (about a fortieth of
    the server's work on a start). ``lstat`` follows no link in the last step, as the check
    does not (and a link has an inode of its own); any change to the file changes its ctime."""
    try:
        info = os.lstat(where)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and _identity(info) == identity


#: What a system call fails with for the daemon's own lack (of fds, of memory), not for what
#: the client named: a 500, never a 400 that blames the client.
DAEMON_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


def exec_base(bundle: Path) -> dict[str, Any]:
    """The bundle's process, the base of an exec (its user, environment, capabilities): 400,
    naming the field, for a ``process.user`` that is not an object (config.json may have
    changed since the start), from which no exec can take the container's user."""
    process = check_config(bundle).process
    user = process.get("user")
    if user is not None and not isinstance(user, dict):
        raise InvalidRequest(
            f"process.user in {os.path.join(bundle, CONFIG_NAME)} must be an object (uid, gid,"
            " additionalGids): an exec runs as the container's user, with what the request"
            " leaves out of it"
        )
    return process


def read_bundle(bundle: Path) -> BundleConfig:
    """What the daemon needs of the bundle's config.json, for containers that already run.

    Never raises: a start was refused before runc ran if the file was bad (:func:`check_config`),
    and a container adopted after a restart must be watched whatever its bundle holds now. What
    cannot be read is taken as empty, with a memory limit (so watched).
    """
    try:
        return check_config(bundle)
    except (InvalidRequest, OSError):
        return _UNREADABLE


def read_bundle_process(bundle: Path) -> dict[str, Any]:
    """The ``process`` object of the bundle's config.json ({} if it cannot be read)."""
    return read_bundle(bundle).process


def open_bundle(bundle: Path) -> int:
    """An ``O_PATH`` fd on the bundle. FileNotFoundError and NotADirectoryError go through
    as they are (what no bundle there means is the caller's); the kernel's other refusals
    (EACCES, ELOOP, ENAMETOOLONG, EIO: the client's path, not us) are a 400 naming it, and
    the daemon's own lack (:data:`DAEMON_ERRNOS`) goes through too."""
    try:
        return beneath.open_directory(bundle)
    except (FileNotFoundError, NotADirectoryError):
        raise
    except OSError as exc:
        if exc.errno in DAEMON_ERRNOS:
            raise
        raise InvalidRequest(
            f"bundlePath {quoted(str(bundle))} cannot be opened: {exc.strerror}"
        ) from None


def open_given(bundle: Path) -> int:
    """:func:`open_bundle` of a ``bundlePath`` a request gives: none there is the client's
    400, in the same words for a start and for the checkpoint routes."""
    try:
        return open_bundle(bundle)
    except (FileNotFoundError, NotADirectoryError):
        raise InvalidRequest(f"bundlePath {quoted(str(bundle))} is not a directory") from None


def _open_config(bundle: Path, where: str) -> int:
    directory = open_given(bundle)
    try:
        return beneath.open_beneath(
            directory, CONFIG_NAME, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY
        )
    except FileNotFoundError:
        raise InvalidRequest(
            f"bundlePath {quoted(str(bundle))} has no config.json: it is not an OCI bundle"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidRequest(
                f"{where} is a symbolic link: a bundle's config is read only from a regular file"
                " inside the bundle"
            ) from None
        if exc.errno in DAEMON_ERRNOS:
            raise
        raise InvalidRequest(f"{where} cannot be opened: {exc.strerror}") from None
    finally:
        os.close(directory)


def _parse(data: bytes, where: str) -> dict[str, Any]:
    """The config as runc's Go decoder would take it: UTF-8, no NaN or Infinity."""
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidRequest(f"{where} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        config = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise InvalidRequest(f"{where} is not UTF-8 text, so not JSON") from None
    except json.JSONDecodeError as exc:
        # exc.msg is one of the decoder's fixed phrases ("Expecting value"): no file content.
        raise InvalidRequest(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except ValueError:
        raise InvalidRequest(f"{where} is not valid JSON: NaN and Infinity are not JSON") from None
    except RecursionError:
        raise InvalidRequest(f"{where} is not a usable config: it is nested too deeply") from None
    if not isinstance(config, dict):
        raise InvalidRequest(
            f"{where} is not a JSON object (it holds {_json_kind(config)}): it is not an OCI"
            " runtime config"
        )
    return config


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def file_kind(mode: int) -> str:
    """What a file of ``mode`` (an ``lstat``'s) is, for an error that names it."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _json_kind(value: object) -> str:
    """What a file holds, never its words (convert.json_type quotes a string: a client's)."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# --- runc's words about a config it could not parse --------------------------------------------

#: Go's encoding/json syntax errors quote the byte they stopped at ("invalid character 'r'
#: looking for beginning of value"); type errors quote a number's text.
_GO_SYNTAX_ERROR = re.compile(r"invalid character '|unexpected end of JSON input")
_GO_NUMBER_VALUE = re.compile(r"cannot unmarshal number \S+ into")
_READS_BUNDLE_CONFIG = frozenset({"run", "create", "restore"})


def without_file_contents(command: str, message: str) -> str:
    """runc's error message, minus whatever of a file's content it quotes."""
    if _GO_SYNTAX_ERROR.search(message):
        what = "the bundle's config.json" if command in _READS_BUNDLE_CONFIG else "a JSON file"
        return (
            f"runc could not parse {what}: it is not valid JSON (runc's own message is not"
            " shown, because it quotes the file)"
        )
    return _GO_NUMBER_VALUE.sub("cannot unmarshal a number into", message)
